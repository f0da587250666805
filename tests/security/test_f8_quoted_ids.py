"""Issue 13, finding 8: ids are quoted path segments; over-long or NUL senders/channels get a clear error."""
from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from callbacks.chat import ChatConfig, ChatDelivery
from seat.rasa_run import bad_reference
from tests.web_support import serving


async def test_conversation_id_cannot_reach_another_rasa_endpoint():
    paths: list[str] = []

    async def record(request: web.Request) -> web.Response:
        paths.append(request.raw_path)
        return web.json_response({"messages": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serving(app) as rasa, aiohttp.ClientSession() as session:
        await ChatDelivery(ChatConfig(f"http://127.0.0.1:{rasa.port}", "t"), session).open("a/../../model/train?")
    assert len(paths) == 1 and not paths[0].startswith("/model")
    assert paths[0].startswith("/conversations/a%2F..%2F..%2Fmodel%2Ftrain%3F/trigger_intent")


def test_edge_check_names_the_problem():
    assert bad_reference({"sender": "x" * 256, "message": "hi"}).startswith("sender is 256 characters")
    assert "NUL" in bad_reference({"sender": "a\x00b", "message": "hi"})
    assert "channel" in bad_reference({"sender": "a", "metadata": {"channel": "c" * 21}})
    assert bad_reference({"sender": "web-1", "metadata": {"channel": "web"}}) is None


def test_store_refuses_unstorable_ids_clearly(tmp_path):
    from ground.db import create_engine
    from ground.store.tickets import InvalidTicketData, TicketStore
    from ground.tables import metadata
    engine = create_engine(f"sqlite:///{tmp_path}/t.db")
    metadata.create_all(engine)
    store = TicketStore(engine)
    with pytest.raises(InvalidTicketData, match="at most 255"):
        store.record_handoff("x" * 300, "asked", {}, "rest")
    with pytest.raises(InvalidTicketData, match="NUL"):
        store.record_handoff("a\x00b", "asked", {}, "rest")
    with pytest.raises(InvalidTicketData, match="channel is 21"):
        store.record_handoff("a", "asked", {}, "c" * 21)
