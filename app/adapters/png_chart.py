"""A line chart as a PNG, written with the standard library alone (zlib + the PNG format):
the backtest's equity curve, without a plotting dependency."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

_BACKGROUND = (255, 255, 255)
_GRID = (225, 228, 235)
_LINE = (31, 97, 196)
_BASELINE = (200, 60, 60)


def line_chart(
    values: Sequence[float],
    *,
    width: int = 900,
    height: int = 320,
    baseline: float | None = None,
    margin: int = 12,
) -> bytes:
    """`values` left to right as a line (each pixel column spans its values' low and high), a
    faint grid, and `baseline` as a red line (the starting balance)."""
    if not values:
        raise ValueError("a chart needs at least one value")
    pixels = [[_BACKGROUND] * width for _ in range(height)]
    low, high = min(values), max(values)
    if baseline is not None:
        low, high = min(low, baseline), max(high, baseline)
    span = (high - low) or 1.0
    inner_w, inner_h = width - 2 * margin, height - 2 * margin

    def y_of(value: float) -> int:
        return margin + round((high - value) / span * (inner_h - 1))

    for row in range(margin, height - margin, max(inner_h // 5, 1)):
        for x in range(margin, width - margin):
            pixels[row][x] = _GRID
    if baseline is not None:
        row = y_of(baseline)
        for x in range(margin, width - margin):
            pixels[row][x] = _BASELINE
    per_column = len(values) / inner_w
    previous: tuple[int, int] | None = None
    for column in range(inner_w):
        start = int(column * per_column)
        chunk = values[start : max(int((column + 1) * per_column), start + 1)]
        if not chunk:
            continue
        top, bottom = y_of(max(chunk)), y_of(min(chunk))
        if previous is not None:  # join to the previous column
            top, bottom = min(top, previous[0]), max(bottom, previous[1])
        x = margin + column
        for y in range(top, bottom + 1):
            pixels[y][x] = _LINE
        last = y_of(chunk[-1])
        previous = (last, last)
    return _png(pixels, width, height)


def _png(pixels: list[list[tuple[int, int, int]]], width: int, height: int) -> bytes:
    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
