"""requirements.txt, the lock Heroku's Python buildpack installs, agrees with pyproject.toml: every
dependency pinned exactly, with hashes, inside pyproject's ranges, and nothing the locked
packages need on Heroku (Linux, CPython 3.11) left out. `make lock` refreshes it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Where Heroku runs the app (.python-version says 3.11).
HEROKU = {
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "python_full_version": "3.11.11",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def locked() -> dict[NormalizedName, tuple[Version, int]]:
    """Each locked package: its version and how many hashes it has."""
    pins: dict[NormalizedName, tuple[Version, int]] = {}
    name: NormalizedName | None = None
    for line in LOCK.read_text().splitlines():
        if line.startswith((" ", "#")) or not line.strip():
            if name is not None and line.strip().startswith("--hash=sha256:"):
                version, hashes = pins[name]
                pins[name] = (version, hashes + 1)
            continue
        match = _PIN.match(line)
        assert match, f"requirements.txt: {line!r} is not an exact pin; run make lock"
        name = canonicalize_name(match[1])
        pins[name] = (Version(match[2]), 0)
    return pins


def runtime_dependencies() -> list[Requirement]:
    return [Requirement(spec) for spec in PYPROJECT["project"]["dependencies"]]


def test_every_pin_is_exact_and_hashed() -> None:
    pins = locked()
    assert pins, "requirements.txt pins nothing; run make lock"
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_lock_is_made_by_make_lock() -> None:
    assert "#    make lock\n" in LOCK.read_text()


@pytest.mark.parametrize("requirement", runtime_dependencies(), ids=str)
def test_each_dependency_is_locked_within_its_range(requirement: Requirement) -> None:
    pins = locked()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} is not in requirements.txt; run make lock"
    version = pins[name][0]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements.txt pins {name} {version}, outside pyproject's {requirement}; run make lock"
    )


def test_the_lock_holds_everything_the_locked_packages_need_on_heroku() -> None:
    """The closure of pyproject's dependencies (with their extras), walked through the installed
    packages' metadata (`make setup` installs the locked versions): every package reached is
    locked, at a version that its dependents accept."""
    pins = locked()
    todo = [(r, "pyproject.toml") for r in runtime_dependencies()]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    problems: list[str] = []
    while todo:
        requirement, wanted_by = todo.pop()
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{name} (needed by {wanted_by}) is not locked")
            continue
        version = pins[name][0]
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{wanted_by} needs {requirement}, the lock has {version}")
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is locked but not installed; run make setup")
            continue
        if Version(installed.version) != version:
            problems.append(f"{name} {installed.version} is installed, the lock has {version}; "
                            "run make setup")  # fmt: skip
            continue
        extras = {"", *requirement.extras}
        for spec in installed.requires or []:
            needed = Requirement(spec)
            if needed.marker is None or any(
                needed.marker.evaluate({**HEROKU, "extra": extra}) for extra in extras
            ):
                todo.append((needed, f"{name} {version}"))
    assert problems == []
