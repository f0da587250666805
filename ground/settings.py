"""Settings read from the environment, with defaults a newcomer's first run needs."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar
from zoneinfo import ZoneInfo

N = TypeVar("N", int, float)

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"  # categories, places, units, dispatch rules, knowledge base
DEFAULT_TIMEZONE = "Asia/Shanghai"  # Beijing time: ticket days, calling windows, reports
HOTLINE_TZ = ZoneInfo(DEFAULT_TIMEZONE)
DEFAULT_SQLITE_PATH = REPO_ROOT / "hotline.db"
RUN_DIR = REPO_ROOT / ".run"  # run-time files: the generated Rasa token, endpoints.yml


def env_number(env: dict[str, str], name: str, default: N, kind: Callable[[str], N]) -> N:
    """Variable `name` of `env` as a number, `default` when unset; ValueError naming the variable otherwise."""
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def default_database_url() -> str:
    """The embedded default: a SQLite file at the repository root."""
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable by environment variables (see README, 'Settings')."""

    database_url: str = field(default_factory=default_database_url)
    redis_url: str | None = None
    rasa_port: int = 5005
    action_port: int = 5055
    rasa_auth_token: str | None = None
    action_endpoint: str = "http://localhost:5055/webhook"
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        action_port = env_number(env, "ACTION_PORT", 5055, int)
        return cls(
            database_url=env.get("DATABASE_URL") or default_database_url(),
            redis_url=env.get("REDIS_URL") or None,
            rasa_port=env_number(env, "RASA_PORT", 5005, int),
            action_port=action_port,
            rasa_auth_token=env.get("RASA_AUTH_TOKEN") or None,
            action_endpoint=env.get("ACTION_ENDPOINT_URL") or f"http://localhost:{action_port}/webhook",
            timezone=env.get("SEAT_TIMEZONE", DEFAULT_TIMEZONE),
        )


def rasa_auth_token(settings: Settings) -> str:
    """RASA_AUTH_TOKEN, or a random token kept in .run/rasa_token across runs."""
    if settings.rasa_auth_token:
        return settings.rasa_auth_token
    path = RUN_DIR / "rasa_token"
    if path.exists():
        return path.read_text().strip()
    RUN_DIR.mkdir(exist_ok=True)
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token
