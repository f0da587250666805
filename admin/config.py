"""The admin console's configuration: its part of the seat's settings tree."""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from ground.settings import (DEFAULT_MODELS_DIR, REPO_ROOT, RUN_DIR, AdminSettings, Settings, push_token,
                             rasa_auth_token)

DEFAULT_ADMIN_PORT = AdminSettings.port
# The dialogue files an editor may change, relative to FLOWS_DIR (globs).
FLOW_FILES = ("domain.yml", "data/rules.yml", "data/stories.yml", "nlu/data/*.yml")


@dataclass(frozen=True)
class AdminConfig:
    """Where the console finds the dialogue files, models, Rasa servers and its secret."""

    settings: Settings = field(default_factory=Settings)
    port: int = DEFAULT_ADMIN_PORT
    host: str = "0.0.0.0"
    flows_dir: Path = REPO_ROOT
    models_dir: Path = DEFAULT_MODELS_DIR  # ADMIN_MODELS_DIR: `seat run` starts with the model published here
    data_dir: Path = RUN_DIR
    rasa_urls: tuple[str, ...] = ("http://127.0.0.1:5005",)
    rasa_token: str | None = None
    secret: bytes | None = None
    nlu_test_dir: Path = REPO_ROOT / "nlu" / "test"
    story_test_dir: Path = REPO_ROOT / "tests" / "stories"
    secure_cookie: bool = False
    push_url: str | None = None  # WEB_PUSH_URL: the citizen page's push (operator workspace); None: no pushes
    push_token: str | None = None  # WEB_PUSH_TOKEN (None: .run/push_token, as the page reads it)
    operator_gone_s: float = 20.0  # HANDOFF_OPERATOR_GONE_S: a workspace silent this long gives its chats back
    abandon_after: timedelta = timedelta(minutes=30)  # HANDOFF_ABANDON_MINUTES (settings.handoff): silent waits given up
    workspace_poll_s: float = 1.0  # the workspace's live stream: queue and claimed chats polled this often

    @classmethod
    def from_settings(cls, settings: Settings) -> "AdminConfig":
        """The console's part of the settings tree (ADMIN_*, FLOWS_DIR, ADMIN_MODELS_DIR, RASA_URLS)."""
        admin = settings.admin
        return cls(
            settings=settings,
            port=admin.port,
            host=admin.host,
            flows_dir=admin.flows_dir,
            models_dir=settings.rasa.models_dir,
            data_dir=admin.data_dir,
            rasa_urls=admin.rasa_urls,
            rasa_token=settings.rasa.auth_token,
            secret=admin.secret,
            secure_cookie=admin.secure_cookie,
            push_url=settings.callbacks.web_push_url,
            operator_gone_s=admin.operator_gone_s,
            abandon_after=settings.handoff.abandon_after,
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
        return rasa_auth_token(self.settings)

    def web_push_token(self) -> str:
        """The secret of the citizen page's /internal/push (the same rule as the page and the callbacks)."""
        return self.push_token or push_token(self.settings)

    @property
    def candidates_dir(self) -> Path:
        return self.models_dir / "candidates"

    @property
    def published_dir(self) -> Path:
        return self.models_dir / "published"
