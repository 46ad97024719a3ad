"""How `signalgate serve` runs the web app under uvicorn, so that a restart loses no alert.

On SIGTERM (a deploy, Heroku's daily restart, `heroku ps:restart`) uvicorn stops accepting
connections at once, lets every request it has begun reading finish and answer (a connection that
sits idle between requests is closed), then runs the app's shut-down. Heroku sends SIGKILL 30 s
after SIGTERM: the wait for in-flight requests is bounded well inside that, so the shut-down
always runs. A restarted process answers as soon as it can: nothing it does not need at start is
imported (the venues and ccxt wait for the first request that marks positions).
"""

from __future__ import annotations

from app.config.settings import Settings

# TradingView gives up on a request after 3 s; Heroku kills the process 30 s after SIGTERM.
GRACEFUL_SHUTDOWN_SECONDS = 10


def serve_web(settings: Settings, host: str) -> None:
    """Run the web app on `settings.port` ($WEB_CONCURRENCY processes) until SIGTERM or SIGINT."""
    import uvicorn  # noqa: PLC0415 - only the web process pays for it

    uvicorn.run(
        "app.entrypoints.web.app:create_served_app",
        factory=True,
        host=host,
        port=settings.port,
        workers=settings.web_concurrency,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours; each web process configures them
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is honoured only from TRUSTED_PROXIES, by the app
        server_header=False,
        ws="none",  # no WebSocket routes: nothing to import for them at start
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
