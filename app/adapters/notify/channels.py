"""The channels, through apprise: one URL a channel (`NOTIFY_URLS`), any service apprise knows.

A channel is named by its index and service name only (`1 (telegram)`), never by its URL:
tokens, passwords and webhook paths live in it, and apprise's own privacy mode still shows a
generic webhook's path. `channel_secrets` lists what of each URL must never be logged, for the
process's log filter (`app.bootstrap.logs`).

`endpoints` points a service at another address (its plugin's `notify_url`, keyed by apprise's
scheme: `{"tgram": "http://127.0.0.1:8081/bot"}`): apprise has no setting for the API host of
Telegram or Discord, so the tests reach their local fakes this way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apprise

from app.domain.account_channels import ChannelShown
from app.domain.notifications import Level
from app.domain.notify_text import Message

log = logging.getLogger("signalgate.notify")

_TYPES = {
    Level.INFO: apprise.NotifyType.INFO,
    Level.SUCCESS: apprise.NotifyType.SUCCESS,
    Level.WARNING: apprise.NotifyType.WARNING,
    Level.FAILURE: apprise.NotifyType.FAILURE,
}
SERVICE_TIMEOUT_SECONDS = 30  # one send, its waits included


class ChannelError(ValueError):
    """A URL apprise cannot send to; the sentence names it by position only."""


def _asset() -> apprise.AppriseAsset:
    return apprise.AppriseAsset(
        app_id="signalgate",
        app_desc="signalgate notifications",
        storage_mode=apprise.PersistentStoreMode.MEMORY,  # nothing written to disk
        service_timeout=SERVICE_TIMEOUT_SECONDS,
    )


def _plugin(url: str, index: int, source: str = "NOTIFY_URLS") -> Any:
    plugin = apprise.Apprise.instantiate(url, asset=_asset())
    if plugin is None:
        scheme = url.partition("://")[0][:20]
        raise ChannelError(
            f"{source}: URL {index} (counted from 0, scheme {scheme!r}) is not one apprise can"
            " send to: see https://appriseit.com/services/ for each service's URL"
        )
    return plugin


class AppriseChannels:
    """`Channels` over apprise."""

    def __init__(
        self,
        urls: Sequence[str],
        endpoints: Mapping[str, str] | None = None,
        *,
        source: str = "NOTIFY_URLS",
    ) -> None:
        """Raises:
        ChannelError: a URL apprise does not understand (the first one; `source` names whose
            URLs they are)."""
        self._urls = tuple(urls)
        self._endpoints = dict(endpoints or {})
        self._source = source
        self._services = tuple(
            _service(_plugin(url, i, source)) for i, url in enumerate(self._urls)
        )

    def __len__(self) -> int:
        return len(self._urls)

    def service(self, index: int) -> str:
        return self._services[index]

    def send(self, index: int, message: Message) -> bool:
        # a new plugin per send: apprise's plugins remember what they delivered, per object
        plugin = _plugin(self._urls[index], index, self._source)
        scheme = _scheme(self._urls[index])
        if scheme in self._endpoints:
            plugin.notify_url = self._endpoints[scheme]
        try:
            return bool(
                plugin.notify(
                    body=message.body,
                    title=message.title,
                    notify_type=_TYPES[message.level],
                    body_format=apprise.NotifyFormat.TEXT,
                )
            )
        except Exception as error:  # noqa: BLE001 - a plugin's bug must fail this send only
            log.warning("channel %d (%s): apprise failed (%s)", index, self._services[index],
                        type(error).__name__)  # fmt: skip
            return False


def service_names(urls: Sequence[str]) -> tuple[str | None, ...]:
    """Each URL's service name (`telegram`, `json`...), None for one apprise cannot send to:
    what a page may show of the channels (never the URL)."""
    names: list[str | None] = []
    for index, url in enumerate(urls):
        try:
            names.append(_service(_plugin(url, index)))
        except ChannelError:
            names.append(None)
    return tuple(names)


def described(urls: Sequence[str], source: str) -> tuple[ChannelShown, ...]:
    """Each URL's service and masked form (`ChannelShown`): what may be kept in clear and shown.

    Raises:
        ChannelError: a URL apprise cannot send to, named by its position in `source`.
    """
    shown = []
    for index, url in enumerate(urls):
        plugin = _plugin(url, index, source)
        shown.append(ChannelShown(_service(plugin), _masked(url, plugin)))
    return tuple(shown)


def _masked(url: str, plugin: Any) -> str:
    """The URL with everything but its scheme masked, and its host when the service has one of
    its own that apprise does not mark private (a webhook's or a mail server's):
    `tgram://***`, `json://***@127.0.0.1:8080/***`. apprise's own privacy mode is not enough: it
    shows a webhook's path and headers, and the ends of a bot token."""
    scheme = _scheme(url)
    host = getattr(plugin, "host", None)
    token = plugin.template_tokens.get("host")
    hidden = channel_secrets([url]) - {url}
    if not isinstance(host, str) or not host or token is None or token.get("private"):
        return f"{scheme}://***"
    if any(host in secret for secret in hidden):
        return f"{scheme}://***"
    port = getattr(plugin, "port", None)
    where = f"{host}:{port}" if isinstance(port, int) else host
    user = "***@" if "@" in url.partition("://")[2].partition("/")[0] else ""
    return f"{scheme}://{user}{where}/***"


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def _service(plugin: Any) -> str:
    """The service's name for logs and metric labels (`telegram`, `discord`, `json`...)."""
    name = str(getattr(plugin, "service_name", "") or type(plugin).__name__)
    return "_".join(name.lower().split())


def channel_secrets(urls: Iterable[str]) -> set[str]:
    """What of `urls` must never be logged: each URL whole, and every value apprise marks
    private (bot tokens, webhook ids and tokens, passwords), with a generic webhook's path,
    headers and parameters (a token may sit in any of them)."""
    found: set[str] = set()
    for url in urls:
        found.add(url)
        try:
            plugin = _plugin(url, 0)
        except ChannelError:
            continue
        for key, token in plugin.template_tokens.items():
            if token.get("private"):
                value = getattr(plugin, token.get("map_to", key), None)
                found.update(_texts(value))
        for name in ("fullpath", "headers", "params", "payload_extras"):
            found.update(_texts(getattr(plugin, name, None)))
    return {value for value in found if value.strip("/")}


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [v for v in value.values() if isinstance(v, str)]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []
