"""The processes that make up the seat, as the launcher starts them."""
from __future__ import annotations

import sys
from pathlib import Path

from seat.launcher import Service
from ground.settings import REPO_ROOT, RUN_DIR, Settings, rasa_auth_token

def write_endpoints(settings: Settings, path: Path | None = None) -> Path:
    """endpoints.yml with the action server URL of these settings (ACTION_PORT / ACTION_ENDPOINT_URL)."""
    import yaml

    config = yaml.safe_load((REPO_ROOT / "endpoints.yml").read_text(encoding="utf-8")) or {}
    config.setdefault("action_endpoint", {})["url"] = settings.rasa.action_endpoint
    path = path or RUN_DIR / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def action_server(settings: Settings) -> Service:
    """The Rasa SDK action server running the custom actions in bot/ (seat/action_server.py: errors without the
    tracker)."""
    return Service(
        name="actions",
        argv=[sys.executable, "-m", "seat.action_server", "--actions", "bot.actions", "--port", str(settings.rasa.action_port)],
        ready_url=f"http://127.0.0.1:{settings.rasa.action_port}/health",
        listens=f"http://localhost:{settings.rasa.action_port}/webhook (custom actions)",
    )


def rasa_server(settings: Settings, model: Path, endpoints: Path | None = None) -> Service:
    """Rasa with the REST channel and the HTTP API behind a token."""
    endpoints = endpoints or write_endpoints(settings)
    token_at = "RASA_AUTH_TOKEN" if settings.rasa.auth_token else RUN_DIR / "rasa_token"
    return Service(
        name="rasa",
        argv=[
            sys.executable, "-m", "seat.rasa_run", "run",  # rasa, loading published models off its event loop
            "--model", str(model),
            "--port", str(settings.rasa.port),
            "--enable-api", "--auth-token", rasa_auth_token(settings),
            "--endpoints", str(endpoints),
            "--credentials", str(REPO_ROOT / "credentials.yml"),
            "--cors", "*",
        ],
        ready_url=f"http://127.0.0.1:{settings.rasa.port}/",
        listens=(
            f"http://localhost:{settings.rasa.port}/webhooks/rest/webhook (REST chat); "
            f"HTTP API on the same port, token in {token_at}"
        ),
    )


def voice_gateway(settings: Settings) -> Service:
    """The phone side: Asterisk AudioSocket on AUDIOSOCKET_PORT (9092), control API on VOICE_CONTROL_PORT (9093)."""
    audiosocket_port = settings.voice.audiosocket_port
    control_port = settings.voice.control_port
    return Service(
        name="voice",
        argv=[sys.executable, "-m", "voice.gateway"],
        ready_url=f"http://127.0.0.1:{control_port}/health",
        listens=(f"AudioSocket on port {audiosocket_port} (Asterisk: AudioSocket(uuid,host:{audiosocket_port})); "
                 f"control API http://localhost:{control_port}/calls/{{uuid}}"),
        env={"RASA_PORT": str(settings.rasa.port), "DATABASE_URL": settings.db.url},
    )


def web_server(settings: Settings) -> Service:
    """The citizen web page (text chat and talk button), web/app.py."""
    port = settings.web.port
    return Service(
        name="web",
        argv=[sys.executable, "-m", "web.app", "--port", str(port),
              "--rasa-url", f"http://127.0.0.1:{settings.rasa.port}"],
        ready_url=f"http://127.0.0.1:{port}/health",
        listens=f"http://localhost:{port}/ (citizen page: chat and talk button)",
    )


def admin_server(settings: Settings) -> Service:
    """The admin console (issue 7): flows, models, knowledge base, tickets, dashboards."""
    port = settings.admin.port
    return Service(
        name="admin",
        argv=[sys.executable, "-m", "admin", "--port", str(port)],
        ready_url=f"http://127.0.0.1:{port}/healthz",
        listens=f"http://localhost:{port}/ (admin console; first user: seat admin create-user NAME --role admin)",
    )


def callback_worker(settings: Settings) -> Service:
    """The satisfaction callback workers (scheduling, calls, chat surveys; see callbacks/)."""
    return Service(
        name="callbacks",
        argv=[sys.executable, "-m", "seat", "callbacks", "serve"],
        listens="no port (outbound calls and chat surveys after closure)",
    )


def all_services(settings: Settings, model: Path) -> list[Service]:
    """Every service `make run` starts, in start order."""
    return [action_server(settings), rasa_server(settings, model), voice_gateway(settings), web_server(settings),
            admin_server(settings), callback_worker(settings)]
