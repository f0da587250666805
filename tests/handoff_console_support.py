"""A recording fake of Rasa's HTTP API (tracker events, tracker) and of the citizen page's push, for the operator
workspace tests. It keeps each conversation's events as Rasa would (pause/resume flip `paused`, slot events set
slots) and refuses calls without the token or the push secret, as the real services do."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

RASA_TOKEN = "test-token"
PUSH_SECRET = "push-secret-0123456789"


@dataclass
class FakeConversation:
    events: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    paused: bool = False


class FakeRasaAndPage:
    """Rasa's /conversations API and the page's /internal/push on one test server."""

    def __init__(self) -> None:
        self.conversations: dict[str, FakeConversation] = {}
        self.appended: list[tuple[str, list[dict[str, Any]]]] = []  # (conversation, events) per POST
        self.pushed: list[dict[str, Any]] = []  # push bodies
        self.connected: set[str] = set()  # conversations whose page is open (push → 202, else 404)
        self.fail_appends = False
        self.server: TestServer | None = None

    def conversation(self, cid: str) -> FakeConversation:
        return self.conversations.setdefault(cid, FakeConversation())

    def citizen_says(self, cid: str, text: str) -> None:
        """A citizen message as Rasa logs it (in a paused conversation: no bot reply)."""
        self.conversation(cid).events.append({"event": "user", "text": text, "timestamp": time.time()})

    def bot_says(self, cid: str, text: str) -> None:
        self.conversation(cid).events.append({"event": "bot", "text": text, "timestamp": time.time()})

    async def _append(self, request: web.Request) -> web.Response:
        if request.query.get("token") != RASA_TOKEN:
            return web.json_response({"message": "unauthorized"}, status=401)
        if self.fail_appends:
            return web.json_response({"message": "boom"}, status=500)
        cid = request.match_info["cid"]
        events = await request.json()
        events = events if isinstance(events, list) else [events]
        self.appended.append((cid, events))
        conv = self.conversation(cid)
        for event in events:
            kind = event.get("event")
            if kind == "pause":
                conv.paused = True
            elif kind == "resume":
                conv.paused = False
            elif kind == "slot":
                conv.slots[event["name"]] = event.get("value")
            conv.events.append({**event, "timestamp": time.time()})
        return web.json_response({"sender_id": cid})

    async def _tracker(self, request: web.Request) -> web.Response:
        if request.query.get("token") != RASA_TOKEN:
            return web.json_response({"message": "unauthorized"}, status=401)
        conv = self.conversation(request.match_info["cid"])
        return web.json_response({"sender_id": request.match_info["cid"], "slots": conv.slots,
                                  "events": conv.events, "paused": conv.paused})

    async def _push(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Seat-Push-Token") != PUSH_SECRET:
            return web.json_response({"error": "forbidden"}, status=403)
        body = await request.json()
        self.pushed.append(body)
        return web.json_response({}, status=202 if body.get("sender") in self.connected else 404)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{cid}/tracker/events", self._append)
        app.router.add_get("/conversations/{cid}/tracker", self._tracker)
        app.router.add_post("/internal/push", self._push)
        return app

    async def start(self) -> str:
        self.server = TestServer(self.app())
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def kinds(self, cid: str) -> list[str]:
        """The event kinds appended to `cid`, in order."""
        return [e["event"] for c, events in self.appended if c == cid for e in events]

    def pushed_texts(self, cid: str) -> list[str]:
        return [m["text"] for body in self.pushed if body["sender"] == cid for m in body["messages"]]
