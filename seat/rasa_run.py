"""`python -m seat.rasa_run run ...`: Rasa's own CLI, with `PUT /model` loading the new model off the event loop.

Rasa 3.6 loads a model for `PUT /model` inside its event loop, so every conversation on that server waits
while the model loads (a minute on a busy machine). Here the agent's stores are set up on the loop as Rasa
does, and the model itself is loaded in a worker thread; the old model keeps answering until the new one
is ready, then Rasa swaps them (keeping its lock store).

Every message channel (`/webhooks/...`: REST, socket.io's HTTP transport, WeChat) is also size-limited
before Rasa parses anything (issue 13, finding 3): one huge message used to hold the event loop for
seconds to minutes while every other conversation waited. Internal metadata keys (survey try, call,
channel) are dropped from REST messages unless the request carries the seat's internal secret (the Rasa
token; the voice gateway and the citizen page's relay send it), so a client cannot speak for a survey
call or another channel (issue 13, finding 2); a sender id or channel the database cannot store is refused with
400 and a reason (finding 8). Chat beyond capacity gets a fast 503 while voice is always answered, and Rasa
serves `/metrics` (issue 14, seat.chat_admission).

The HTTP API token comes from RASA_AUTH_TOKEN (the environment, which only this user can read), not from the
command line, which `ps` shows every local user: Rasa 3.6 reads it only as `--auth-token`, so it is added to
this process's own argument list (`--auth-token=VALUE`, safe even for a value starting with '-') after start.
Everything else is plain `rasa`.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys
from typing import Any, Optional

import rasa.core.run as rasa_run
import rasa.server as server
from rasa.__main__ import main as rasa_main
from rasa.core.agent import Agent
from rasa.core.brokers.broker import EventBroker
from rasa.core.http_interpreter import RasaNLUHttpInterpreter
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from ground import memdebug
from ground.settings import current, rasa_auth_token
from ground.store.tickets import MAX_CHANNEL_CHARS, MAX_SENDER_CHARS
from seat import chat_admission, rasa_speedups

log = logging.getLogger(__name__)

WEBHOOKS = "/webhooks/"
REST_WEBHOOK = "/webhooks/rest/webhook"
MAX_MESSAGE_CHARS = 2000  # as the citizen page's relay (web/app.py)
MAX_BODY_BYTES = 64 * 1024  # any channel's request body (WeChat's own limit is the same)
TOO_LONG = f"您的消息太长了，请分几次发送，每次不超过{MAX_MESSAGE_CHARS}字。"
# Set only by the seat's own services (voice gateway, citizen page relay): never taken from a client.
INTERNAL_METADATA = frozenset({"attempt_id", "survey_ticket", "call_id", "caller", "channel"})


def _internal_secret() -> str:
    return rasa_auth_token(current())


def from_the_seat(request: Request) -> bool:
    """The request carries the internal secret (`Authorization: Bearer ...` or `?token=`)."""
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or request.args.get("token", "")
    secret = _internal_secret()
    return bool(sent) and bool(secret) and hmac.compare_digest(sent.encode(), secret.encode())


def _too_long(sender: Any) -> HTTPResponse:
    """413 in the REST channel's own answer format, so a client shows the Mandarin sentence."""
    recipient = sender if isinstance(sender, str) else ""
    return json_response([{"recipient_id": recipient, "text": TOO_LONG}], status=413)


async def guard_channels(request: Request) -> Optional[HTTPResponse]:
    """Sanic request middleware: refuse oversized channel requests before Rasa reads them; drop internal
    metadata keys a client sent."""
    if request.method != "POST" or not request.path.startswith(WEBHOOKS):
        return None
    body = request.body or b""
    if len(body) > MAX_BODY_BYTES:
        log.warning("refused a %d-byte request to %s (limit %d)", len(body), request.path, MAX_BODY_BYTES)
        return _too_long(None)
    if request.path.rstrip("/") != REST_WEBHOOK:
        return None
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None  # Rasa answers malformed requests itself
    if not isinstance(payload, dict):  # Rasa's channel would call .get on it: HTTP 500
        return response.json({"error": "请求无效：需要 JSON 对象，例如 {\"sender\": \"...\", \"message\": \"...\"}"},
                             status=400)
    message = payload.get("message")
    if not isinstance(message, str):  # a number, list or object, or missing: Rasa's NLU needs text
        return response.json({"error": "请求无效：message 必须是文字"}, status=400)
    if isinstance(message, str) and len(message) > MAX_MESSAGE_CHARS:
        log.warning("refused a %d-character message (limit %d)", len(message), MAX_MESSAGE_CHARS)
        return _too_long(payload.get("sender"))
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):  # Rasa would fail on it and answer nothing
        return response.json({"error": "请求无效：metadata 必须是 JSON 对象"}, status=400)
    if isinstance(metadata, dict) and INTERNAL_METADATA & metadata.keys() and not from_the_seat(request):
        dropped = sorted(INTERNAL_METADATA & metadata.keys())
        payload["metadata"] = {k: v for k, v in metadata.items() if k not in INTERNAL_METADATA}
        log.warning("dropped internal metadata %s from a client message", dropped)
    request.parsed_json = payload  # what Rasa's REST channel reads (request.json)
    return None


def bad_reference(body: Any) -> Optional[str]:
    """Why a channel message's sender id or metadata channel cannot be stored, or None (issue 13, finding 8):
    at most 255 and 20 characters, no NUL byte. Checked at the edge, not by a failing PostgreSQL insert."""
    if not isinstance(body, dict):
        return None  # not a JSON object: the channel itself answers
    sender = body.get("sender")
    if sender is not None:
        if not isinstance(sender, str):
            return "sender must be a string"
        if len(sender) > MAX_SENDER_CHARS:
            return f"sender is {len(sender)} characters long; at most {MAX_SENDER_CHARS} are allowed"
        if "\x00" in sender:
            return "sender contains a NUL character"
    metadata = body.get("metadata")
    channel = metadata.get("channel") if isinstance(metadata, dict) else None
    if channel is not None and (not isinstance(channel, str) or len(channel) > MAX_CHANNEL_CHARS
                                or "\x00" in channel):
        return f"metadata.channel must be a string of at most {MAX_CHANNEL_CHARS} characters without NUL"
    return None


async def check_references(request: Request) -> Optional[HTTPResponse]:
    """Sanic request middleware: channel webhooks with an unstorable sender or channel get 400 and a reason."""
    if request.method != "POST" or not request.path.startswith("/webhooks/"):
        return None
    if "json" not in (request.content_type or ""):
        return None
    try:
        body = request.json
    except Exception:  # Sanic raises its own BadRequest; the channel answers that as before
        return None
    reason = bad_reference(body)
    if reason is None:
        return None
    return response.json({"error": f"请求无效：{reason}"}, status=400)


def with_auth_token(argv: list[str], token: str | None) -> list[str]:
    """`argv` of `rasa run` with the token as one `--auth-token=VALUE` word (none given on the command line)."""
    if any(a in ("-t", "--auth-token") or a.startswith("--auth-token=") for a in argv):
        raise SystemExit("seat.rasa_run: pass the token in RASA_AUTH_TOKEN, not on the command line (ps shows it)")
    if not token or len(argv) < 2 or argv[1] != "run":
        return list(argv)
    return [*argv, f"--auth-token={token}"]


def install_guards(app: Sanic) -> Sanic:
    """Adds the seat's request guards to a Rasa Sanic app (before it starts)."""
    app.register_middleware(check_references, "request")
    app.register_middleware(guard_channels, "request")
    return app


def _patch_app_guards() -> None:
    original = rasa_run.configure_app
    if getattr(original, "seat_guards", False):
        return

    def configure_app_with_guards(*args: Any, **kwargs: Any) -> Sanic:
        app = install_guards(original(*args, **kwargs))
        chat_admission.install(app, current().load)  # phone before chat; /metrics (issue 14)
        return app

    configure_app_with_guards.seat_guards = True  # type: ignore[attr-defined]
    rasa_run.configure_app = configure_app_with_guards


def _patch_model_loading() -> None:
    original = server._load_agent

    async def load_agent_off_loop(model_path: Optional[str] = None, model_server: Any = None,
                                  remote_storage: Optional[str] = None, endpoints: Any = None) -> Agent:
        if model_server is not None or remote_storage is not None or not model_path or \
                (endpoints is not None and endpoints.model is not None):
            return await original(model_path=model_path, model_server=model_server,
                                  remote_storage=remote_storage, endpoints=endpoints)
        agent = Agent()
        if endpoints is not None:
            broker = await EventBroker.create(endpoints.event_broker)
            agent = Agent(generator=endpoints.nlg,
                          tracker_store=TrackerStore.create(endpoints.tracker_store, event_broker=broker),
                          lock_store=LockStore.create(endpoints.lock_store), action_endpoint=endpoints.action,
                          http_interpreter=RasaNLUHttpInterpreter(endpoints.nlu) if endpoints.nlu else None)
        try:
            await asyncio.get_running_loop().run_in_executor(None, agent.load_model, model_path)
        except Exception as exc:  # the same answer Rasa gives
            raise server.ErrorResponse(500, "LoadingError", f"An unexpected error occurred. Error: {exc}")
        if not agent.is_ready():
            raise server.ErrorResponse(400, "BadRequest", f"Agent with name '{model_path}' could not be loaded.",
                                       {"parameter": "model", "in": "query"})
        return agent

    server._load_agent = load_agent_off_loop


def warm_tokenizer() -> None:
    """Load jieba's dictionary now (the model's JiebaTokenizer uses jieba's default one): otherwise the first message
    loads it, ≈ 60 MB of Python objects and a second or two, so a Rasa process's memory grew over its first messages
    and the first citizen waited (issue 15: memory, measured with bench/chat.py --memdebug)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()


def main() -> None:
    memdebug.install_from_env("rasa")  # off unless SEAT_MEMDEBUG_DIR is set (diagnosis only)
    warm_tokenizer()
    rasa_speedups.install()  # per-message work that does not earn its cost (issue 15)
    _patch_model_loading()
    _patch_app_guards()
    sys.argv = with_auth_token(["rasa", *sys.argv[1:]], current().rasa.auth_token)
    rasa_main()


if __name__ == "__main__":
    main()
