"""Admin console settings from the environment (on top of the seat's Settings)."""
from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ground.settings import REPO_ROOT, Settings, env_number

DEFAULT_ADMIN_PORT = 8080
# The dialogue files an editor may change, relative to FLOWS_DIR (globs).
FLOW_FILES = ("domain.yml", "data/rules.yml", "data/stories.yml", "nlu/data/*.yml")


@dataclass(frozen=True)
class AdminConfig:
    """Where the console finds the dialogue files, models, Rasa servers and its secret."""

    settings: Settings = field(default_factory=Settings)
    port: int = DEFAULT_ADMIN_PORT
    host: str = "0.0.0.0"
    flows_dir: Path = REPO_ROOT
    models_dir: Path = REPO_ROOT / "models"
    data_dir: Path = REPO_ROOT / ".run"
    rasa_urls: tuple[str, ...] = ("http://127.0.0.1:5005",)
    rasa_token: str | None = None
    secret: bytes | None = None
    nlu_test_dir: Path = REPO_ROOT / "nlu" / "test"
    story_test_dir: Path = REPO_ROOT / "tests" / "stories"
    secure_cookie: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "AdminConfig":
        env = dict(os.environ if env is None else env)
        settings = Settings.from_env(env)
        urls = env.get("RASA_URLS") or f"http://127.0.0.1:{settings.rasa_port}"
        secret = env.get("ADMIN_SECRET")
        return cls(
            settings=settings,
            port=env_number(env, "ADMIN_PORT", DEFAULT_ADMIN_PORT, int),
            host=env.get("ADMIN_HOST", "0.0.0.0"),
            flows_dir=Path(env.get("FLOWS_DIR") or REPO_ROOT).resolve(),
            models_dir=Path(env.get("ADMIN_MODELS_DIR") or REPO_ROOT / "models").resolve(),
            data_dir=Path(env.get("ADMIN_DATA_DIR") or REPO_ROOT / ".run").resolve(),
            rasa_urls=tuple(u.strip().rstrip("/") for u in urls.split(",") if u.strip()),
            rasa_token=env.get("RASA_AUTH_TOKEN") or None,
            secret=secret.encode() if secret else None,
            secure_cookie=env.get("ADMIN_SECURE_COOKIE", "0") == "1",
        )

    def cookie_key(self) -> bytes:
        """32 bytes for the session cookie: from ADMIN_SECRET, else generated once into the data dir."""
        if self.secret:
            return hashlib.sha256(self.secret).digest()
        path = self.data_dir / "admin_secret"
        if path.exists():
            return base64.urlsafe_b64decode(path.read_text().strip())
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        path.write_text(base64.urlsafe_b64encode(key).decode() + "\n")
        path.chmod(0o600)
        return key

    def rasa_auth_token(self) -> str:
        """The token of the Rasa HTTP API (the same rule as `seat run`)."""
        if self.rasa_token:
            return self.rasa_token
        from ground.settings import rasa_auth_token

        return rasa_auth_token(self.settings)

    @property
    def candidates_dir(self) -> Path:
        return self.models_dir / "candidates"

    @property
    def published_dir(self) -> Path:
        return self.models_dir / "published"
