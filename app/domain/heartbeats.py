"""What a silent forwarder or monitor means and what to run: the one wording `/ready` shows and
the notifier tells (`forwarder` and `monitor` events)."""

from __future__ import annotations

_NEVER = {
    "forwarder": "no forwarder has beaten yet",
    "monitor": "no monitor has finished a round yet",
}
_SILENT = {
    "forwarder": "no forwarder heartbeat",
    "monitor": "no monitor round has finished",
}
_FIX = {
    "forwarder": "accepted alerts wait in the Redis inbox until `signalgate forward` (the"
    " Procfile's forwarder) runs: start it or read its logs.",
    "monitor": "nothing keeps brackets one-cancels-the-other until `signalgate monitor` runs:"
    " start it or read its logs.",
}


def silent_for(process: str, age: float, limit: float) -> str:
    """`process` ("forwarder" or "monitor") has shown no life for `age` seconds, over `limit`."""
    return f"{_SILENT[process]} for {age:.0f} s (over {limit:g} s): {_FIX[process]}"


def heartbeat_state(process: str, last: float | None, now: float, limit: float) -> str:
    """ "ok" for a heartbeat at most `limit` seconds old, else what is wrong and what to do."""
    if last is None:
        return f"{_NEVER[process]}: {_FIX[process]}"
    if now - last <= limit:
        return "ok"
    return silent_for(process, now - last, limit)
