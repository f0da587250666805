"""The processes that make up the seat, as the launcher starts them."""
from __future__ import annotations

import sys
from pathlib import Path

from seat.launcher import Service
from seat.scaling import RasaScaling, backend_urls, scaled_rasa_tier
import os
import yaml

from ground.settings import (ACTION_TOKEN_HEADER, REPO_ROOT, RUN_DIR, Settings, action_token, push_token,
                             rasa_auth_token, voice_control_token)


def write_endpoints(settings: Settings, path: Path | None = None) -> Path:
    """endpoints.yml with the action server URL of these settings (ACTION_PORT / ACTION_ENDPOINT_URL) and the
    action server's secret in a header (ACTION_TOKEN); the file is readable by its owner only."""
    config = yaml.safe_load((REPO_ROOT / "endpoints.yml").read_text(encoding="utf-8")) or {}
    endpoint = config.setdefault("action_endpoint", {})
    endpoint["url"] = settings.rasa.action_endpoint
    endpoint.setdefault("headers", {})[ACTION_TOKEN_HEADER] = action_token(settings)
    path = path or RUN_DIR / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    path.chmod(0o600)
    return path


def action_server(settings: Settings) -> Service:
    """The Rasa SDK action server running the custom actions in bot/, on ACTION_HOST, refusing calls without
    the ACTION_TOKEN secret (seat/action_run.py; action errors never carry the tracker, seat/action_server.py); the secret reaches it in the environment, not argv."""
    port = settings.rasa.action_port
    return Service(
        name="actions",
        argv=[sys.executable, "-m", "seat.action_run", "--actions", "bot.actions",
              "--host", settings.internal.action_host, "--port", str(port)],
        ready_url=f"http://127.0.0.1:{port}/health",
        listens=f"http://{settings.internal.action_host}:{port}/webhook (custom actions; Rasa's calls only)",
        env={"ACTION_TOKEN": action_token(settings)},
    )


def rasa_server(settings: Settings, model: Path, endpoints: Path | None = None, name: str = "rasa") -> Service:
    """Rasa with the REST channel and the HTTP API behind a token, on RASA_HOST (loopback by default).

    The token reaches Rasa in the environment (seat.rasa_run hands it to Rasa's parser in-process), never in
    argv, which `ps` shows every local user; no CORS: browsers talk to the citizen page, not to Rasa."""
    endpoints = endpoints or write_endpoints(settings)
    token_at = "RASA_AUTH_TOKEN" if settings.rasa.auth_token else RUN_DIR / "rasa_token"
    host = settings.internal.rasa_host
    return Service(
        name=name,
        argv=[
            sys.executable, "-m", "seat.rasa_run", "run",  # rasa, loading published models off its event loop
            "--model", str(model),
            "--interface", host,
            "--port", str(settings.rasa.port),
            "--enable-api",
            "--endpoints", str(endpoints),
            "--credentials", str(REPO_ROOT / "credentials.yml"),
        ],
        ready_url=f"http://127.0.0.1:{settings.rasa.port}/",
        listens=(
            f"http://{host}:{settings.rasa.port}/webhooks/rest/webhook (REST chat); "
            f"HTTP API on the same port, token in {token_at}"
        ),
        env={"RASA_AUTH_TOKEN": rasa_auth_token(settings)},
    )


def rasa_tier(settings: Settings, model: Path, endpoints: Path | None = None,
              ports: list[int] | None = None) -> list[Service]:
    """The Rasa servers answering on RASA_PORT: one process, or several when REDIS_URL is set (see seat.scaling)."""
    scaling = RasaScaling.of(settings)
    if scaling.processes <= 1:
        return [rasa_server(settings, model, endpoints)]
    endpoints = endpoints or write_endpoints(settings)
    return scaled_rasa_tier(settings, scaling, lambda s, name: rasa_server(s, model, endpoints, name), ports,
                            run_dir=RUN_DIR)


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
        env={"RASA_PORT": str(settings.rasa.port), "DATABASE_URL": settings.db.url,
             "VOICE_CONTROL_TOKEN": voice_control_token(settings)},
    )


def web_server(settings: Settings) -> Service:
    """The citizen web page (text chat and talk button), web/app.py."""
    port = settings.web.port
    return Service(
        name="web",
        argv=[sys.executable, "-m", "web.app", "--port", str(port),
              "--rasa-url", settings.rasa.url],  # RASA_URL (default the local Rasa): a balancer when scaled out
        env={"WEB_PUSH_TOKEN": push_token(settings)},
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
        env={"WEB_PUSH_TOKEN": push_token(settings), "VOICE_CONTROL_TOKEN": voice_control_token(settings),
             "RASA_AUTH_TOKEN": rasa_auth_token(settings)},
        ready_url=f"http://127.0.0.1:{settings.callbacks.health_port}/health",
        listens=f"health http://127.0.0.1:{settings.callbacks.health_port}/health "
                "(outbound calls and chat surveys after closure)",
    )


def all_services(settings: Settings, model: Path) -> list[Service]:
    """Every service `make run` starts, in start order."""
    tier = rasa_tier(settings, model)
    admin = admin_server(settings)
    if backend_urls(tier) and not settings.tier.rasa_urls_given:
        admin.env["RASA_URLS"] = ",".join(backend_urls(tier))  # publish a model to every Rasa process
    return [action_server(settings), *tier, voice_gateway(settings), web_server(settings), admin,
            callback_worker(settings)]
