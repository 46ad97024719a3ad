"""`MsgspecLitestar`: an OPTIONS answer lists every method of its path, however the path's
handlers were registered (Litestar 2.25 kept the first registered handler's methods only).
`NoEventListeners`: an app without event listeners starts no emitter for them."""

from __future__ import annotations

import pytest
from litestar import Controller, Litestar, delete, get, patch, post
from litestar.events import listener
from litestar.params import FromPath
from litestar.testing import TestClient

from app.entrypoints.web.lean import MsgspecLitestar, NoEventListeners


class Items(Controller):
    path = "/items"

    @get("/")
    async def list_items(self) -> str:
        return "all"

    @post("/")
    async def add_item(self) -> str:
        return "added"

    @get("/{ref:str}")
    async def get_item(self, ref: FromPath[str]) -> str:
        return ref

    @patch("/{ref:str}")
    async def change_item(self, ref: FromPath[str]) -> str:
        return ref

    @delete("/{ref:str}")
    async def remove_item(self, ref: FromPath[str]) -> None:
        return None


@get("/plain")
async def read_plain() -> str:
    return "read"


@post("/plain")
async def write_plain() -> str:
    return "written"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/items", "GET, OPTIONS, POST"),
        ("/items/one", "DELETE, GET, OPTIONS, PATCH"),
        ("/plain", "GET, OPTIONS, POST"),
    ],
)
def test_options_lists_every_method_of_the_path(path: str, allowed: str) -> None:
    app = MsgspecLitestar([Items, read_plain, write_plain], logging_config=None)
    with TestClient(app) as client:
        answer = client.options(path)
    assert answer.status_code == 204
    assert answer.headers["Allow"] == allowed


def test_an_app_without_event_listeners_starts_and_answers() -> None:
    app = MsgspecLitestar([read_plain], logging_config=None, event_emitter_backend=NoEventListeners)
    with TestClient(app) as client:
        assert client.get("/plain").text == "read"
    with pytest.raises(RuntimeError, match="no listener takes the event 'order'"):
        app.emit("order")


@listener("order")
async def on_order() -> None:
    return None


def test_no_event_listeners_refuses_a_listener() -> None:
    with pytest.raises(ValueError, match="takes no listeners"):
        Litestar([read_plain], listeners=[on_order], event_emitter_backend=NoEventListeners)
