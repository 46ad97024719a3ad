"""The kill switch page: the trading state, and halt / reduce-only / resume with a reason, through
`Services.switch_trading` as the admin API and `signalgate halt` do (on record, and told)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import ValidationException
from litestar.response import Redirect, Template

from app.domain.risk_values import TradingState
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.console.pages import page
from app.entrypoints.web.guards import CONSOLE_DOOR

TRADING = f"{CONSOLE_DOOR.mount}/trading"
MAX_REASON = 500
# what each button does, in the words the page shows
CHOICES = {
    TradingState.HALTED: ("Halt", "deny every signal, entries and exits"),
    TradingState.REDUCING: ("Reduce only", "deny entries, let exits through"),
    TradingState.ACTIVE: ("Resume", "trade normally again"),
}


async def state_and_reason(request: Request[Any, Any, Any], kept: str) -> tuple[TradingState, str]:
    """A switch form's `state` and `reason` (its spaces squeezed, marked as the console's).

    Raises:
        ValidationException: no such state, or no reason (`kept`: what becomes of a reason).
    """
    form = await request.form()
    try:
        state = TradingState(form.get("state", ""))
    except ValueError:
        raise ValidationException(
            "choose halted, reducing_only or active: the form's state is not one of them."
        ) from None
    reason = " ".join(str(form.get("reason", "")).split())[:MAX_REASON]
    if not reason:
        raise ValidationException(f"give a reason: {kept}.")
    return state, f"{reason} (console)"


@get("/trading")
async def trading(request: Request[Any, Any, Any]) -> Template:
    return await page(request, "trading.html", choices=list(CHOICES.items()))


@post("/trading", status_code=303)
async def switch(request: Request[Any, Any, Any]) -> Redirect:
    """Set the trading state from the page's form (`state`, `reason`)."""
    state, reason = await state_and_reason(request, "it is kept with the change and told")
    await asyncio.to_thread(services_of(request).switch_trading, state, reason)
    return Redirect(TRADING, status_code=303)


TRADING_ROUTES = (trading, switch)
