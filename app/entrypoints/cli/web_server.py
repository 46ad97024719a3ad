"""How `signalgate serve` runs the web app under uvicorn, so that a restart loses no alert.

- The port listens first, before uvicorn and the app are imported: while a restarted process
  loads, the kernel queues the connections that arrive (up to the backlog) instead of refusing
  them, and the app answers them once it has started. (`uvicorn.run` listens only after the app's
  start, and with several workers only once a worker has started.)
- On SIGTERM (a deploy, Heroku's daily restart) uvicorn stops accepting connections at once, lets
  every request it has begun reading finish and answer (a connection idle between requests is
  closed), then runs the app's shut-down, and ends as killed by that SIGTERM. Heroku sends SIGKILL
  30 s after SIGTERM, so the wait for requests is bounded well inside that.
- Nothing the web process does not need at start is imported before it answers (the venues and
  ccxt wait for the first request that marks positions).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import socket

from app.config.settings import Settings

log = logging.getLogger("signalgate.serve")

# TradingView gives up on a request after 3 s; Heroku kills the process 30 s after SIGTERM.
GRACEFUL_SHUTDOWN_SECONDS = 10
BACKLOG = 2048  # connections the kernel queues while the app loads (uvicorn's default)
_STARTUP_FAILURE = 3  # uvicorn's exit code when the app did not start
_APP = "app.entrypoints.web.app:create_served_app"


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, or exit saying what to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"signalgate: cannot listen on {host}:{port} ({exc.strerror}); stop what uses that "
            "port or set PORT to another."
        ) from None
    sock.listen(BACKLOG)
    sock.set_inheritable(True)  # for uvicorn's worker processes ($WEB_CONCURRENCY > 1)
    log.info("listening on http://%s:%d", host if family == socket.AF_INET else f"[{host}]", port)
    return sock


def serve_web(settings: Settings, host: str) -> None:
    """Run the web app on `settings.port` ($WEB_CONCURRENCY processes) until SIGTERM or SIGINT."""
    sock = listen(host, settings.port)
    # What the start allocates (the imports, then the app) lives as long as the process: the
    # collector, which would walk it again and again while it grows, stays off until the app has
    # started; the app's lifespan then freezes it and turns the collector back on (in a worker
    # process of $WEB_CONCURRENCY > 1, create_served_app turns it off).
    gc.disable()
    import uvicorn  # noqa: PLC0415 - after listening: only the web process pays for it
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    if settings.web_concurrency == 1:
        importlib.import_module(_APP.partition(":")[0])
    else:  # each worker process imports the app; this one only watches them
        gc.enable()

    config = uvicorn.Config(
        _APP,
        factory=True,
        host=host,
        port=settings.port,
        workers=settings.web_concurrency,
        backlog=BACKLOG,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours; each web process configures them
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is honoured only from TRUSTED_PROXIES, by the app
        server_header=False,
        ws="none",  # no WebSocket routes: nothing to import for them at start
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        if config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
            return
        server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(_STARTUP_FAILURE)
