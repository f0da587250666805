"""The seat's settings: one frozen tree read from the environment, with defaults a newcomer's first run needs.

Every environment variable the README names is read here and nowhere else. An entry point builds the tree once
(`current()`, or `Settings.from_env(env)` for an explicit environment) and passes it, or a section of it, down.
Code that runs inside processes the seat does not start itself (Rasa's action server and stores) has nothing
passed to it and calls `current()`: built on first use, then the same object for the process.
"""
from __future__ import annotations

import functools
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar
from zoneinfo import ZoneInfo

from ground.calling_window import DEFAULT_TIMEZONE, CallingWindow, parse_dates
from ground.service_hours import ServiceHours
from ground.survey_policy import SurveyPolicy

N = TypeVar("N", int, float)

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"  # categories, places, units, dispatch rules, knowledge base
HOTLINE_TZ = ZoneInfo(DEFAULT_TIMEZONE)  # Beijing time: ticket days, calling windows, reports
DEFAULT_SQLITE_PATH = REPO_ROOT / "hotline.db"
RUN_DIR = REPO_ROOT / ".run"  # run-time files: the generated Rasa token, endpoints.yml
DEFAULT_MODELS_DIR = REPO_ROOT / "models"
DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
DEFAULT_ENDPOINT_MS = 700  # VOICE_ENDPOINT_MS: quiet after the caller's words that ends a turn
ENDPOINT_RANGE_MS = (300, 1400)  # shorter cuts callers off between words; the energy gate's hangover is 1.5 s
# DEFAULT_TIMEZONE is imported from ground.calling_window (which cannot import this module) and re-exported.


def env_number(env: Mapping[str, str], name: str, default: N, kind: Callable[[str], N]) -> N:
    """Variable `name` of `env` as a number, `default` when unset; ValueError naming the variable otherwise."""
    raw = env.get(name)
    return default if raw is None else _number(name, raw, kind)


def _number(name: str, raw: str, kind: Callable[[str], N]) -> N:
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def _at_least_one(env: Mapping[str, str], name: str, default: int) -> int:
    value = env_number(env, name, default, int)
    if value < 1:
        raise ValueError(f"{name}={value} must be at least 1")
    return value


def default_database_url() -> str:
    """The embedded default: a SQLite file at the repository root."""
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


@dataclass(frozen=True)
class DbSettings:
    url: str = field(default_factory=default_database_url)  # DATABASE_URL: tickets and Rasa's tracker store
    redis_url: str | None = None  # REDIS_URL: Rasa's lock store; None = in-process locks
    spool_dir: Path = RUN_DIR / "spool"  # SEAT_SPOOL_DIR: tickets and handoffs kept while the database is down
    spool_drain_s: float = 5.0  # SPOOL_DRAIN_SECONDS: how often the action server retries spooled items


@dataclass(frozen=True)
class RasaSettings:
    port: int = 5005  # RASA_PORT
    action_port: int = 5055  # ACTION_PORT
    auth_token: str | None = None  # RASA_AUTH_TOKEN; None = generated into .run/rasa_token
    action_endpoint: str = "http://localhost:5055/webhook"  # ACTION_ENDPOINT_URL
    url: str = "http://127.0.0.1:5005"  # RASA_URL: the Rasa server the channels talk to
    models_dir: Path = DEFAULT_MODELS_DIR  # ADMIN_MODELS_DIR: candidates and published models (console and start)


@dataclass(frozen=True)
class DataFiles:
    categories: Path = DATA_DIR / "categories.yml"  # SEAT_CATEGORIES_FILE
    dispatch: Path = DATA_DIR / "dispatch.yml"  # SEAT_DISPATCH_FILE
    places: Path = DATA_DIR / "beijing_places.yml"  # SEAT_PLACES_FILE


@dataclass(frozen=True)
class VoiceSettings:
    vosk_model: str = ""  # VOSK_MODEL; "" = unset
    asr_threads: int = 2  # ASR_THREADS
    endpoint_ms: int = DEFAULT_ENDPOINT_MS  # VOICE_ENDPOINT_MS
    silence_s: float = 8.0  # VOICE_SILENCE_S
    warm_recognizers: int = 2  # VOICE_WARM_RECOGNIZERS
    audiosocket_host: str = "127.0.0.1"  # AUDIOSOCKET_HOST
    audiosocket_port: int = 9092  # AUDIOSOCKET_PORT
    control_host: str = "127.0.0.1"  # VOICE_CONTROL_HOST
    control_port: int = 9093  # VOICE_CONTROL_PORT
    tts_voice: str | None = None  # TTS_VOICE
    tts_threads: str = "1"  # TTS_THREADS (the espeak driver allows one engine per process: only warned about)
    tts_cache_size: int = 128  # TTS_CACHE_SIZE
    dialogue_timeout_s: float = 8.0  # VOICE_DIALOGUE_TIMEOUT_S: longest wait for one dialogue answer on the phone
    filler_s: float = 1.5  # VOICE_FILLER_S: "请稍等" when the dialogue has not answered after this long


@dataclass(frozen=True)
class WebSettings:
    host: str = "0.0.0.0"  # WEB_HOST
    port: int = 8000  # WEB_PORT
    max_calls: int = 20  # WEB_MAX_CALLS
    calls_per_client: int = 2  # WEB_CALLS_PER_CLIENT: spoken calls one client may hold at a time
    chat_per_minute: int = 30  # WEB_CHAT_PER_MINUTE: chat messages one client may send a minute
    pages_per_client: int = 10  # WEB_PAGES_PER_CLIENT: events sockets (open pages) one client may hold


@dataclass(frozen=True)
class AdminSettings:
    port: int = 8080  # ADMIN_PORT
    host: str = "127.0.0.1"  # ADMIN_HOST: loopback; put it behind the TLS proxy (README "Deploying safely")
    flows_dir: Path = REPO_ROOT  # FLOWS_DIR
    data_dir: Path = RUN_DIR  # ADMIN_DATA_DIR
    rasa_urls: tuple[str, ...] = ("http://127.0.0.1:5005",)  # RASA_URLS
    secret: bytes | None = None  # ADMIN_SECRET
    secure_cookie: bool = False  # ADMIN_SECURE_COOKIE
    operator_gone_s: float = 20.0  # HANDOFF_OPERATOR_GONE_S: a workspace silent this long gives its chats back


@dataclass(frozen=True)
class AriSettings:
    url: str | None = None  # ARI_URL
    user: str | None = None  # ARI_USER
    password: str | None = None  # ARI_PASSWORD
    endpoint: str = "PJSIP/{phone}@trunk"  # ARI_ENDPOINT
    context: str = "survey-callback"  # ARI_CONTEXT

    def missing(self) -> list[str]:
        """The variables CALLBACK_DIALER=ari needs that are unset."""
        return [name for name, value in (("ARI_URL", self.url), ("ARI_USER", self.user),
                                         ("ARI_PASSWORD", self.password)) if not value]


@dataclass(frozen=True)
class CallbackSettings:
    policy: SurveyPolicy = field(default_factory=SurveyPolicy)  # CALLBACK_* timing, window and weight
    dialer: str = ""  # CALLBACK_DIALER: "ari", "simulated" or "" (voice tries wait)
    workers: int = 2  # CALLBACK_WORKERS
    poll_seconds: float = 30.0  # CALLBACK_POLL_SECONDS
    simulated_keys: str = "1111"  # CALLBACK_SIMULATED_KEYS
    gateway_url: str = "http://127.0.0.1:9093"  # VOICE_GATEWAY_URL: the voice gateway's control API
    web_push_url: str | None = "http://127.0.0.1:8000/internal/push"  # WEB_PUSH_URL: the citizen page's push endpoint
    health_port: int = 9105  # CALLBACKS_HEALTH_PORT: the service's /health (127.0.0.1), issue 14
    ari: AriSettings = field(default_factory=AriSettings)


@dataclass(frozen=True)
class HandoffSettings:
    """Human agents (issue 16): when they take handoffs; whether an empty workspace means nobody is on duty."""

    hours: ServiceHours = field(default_factory=ServiceHours)  # HANDOFF_HOURS, e.g. "08:00-20:00" (local time)
    require_online: bool = False  # HANDOFF_REQUIRE_ONLINE=1: no operator's workspace open = nobody on duty
    abandon_after: timedelta = timedelta(minutes=30)  # HANDOFF_ABANDON_MINUTES: a silent chat wait is given up


@dataclass(frozen=True)
class WeChatSettings:
    """What the Official Account is and where its API lives.

    ``token`` unset: the channel is disabled (the webhook answers 503, Rasa still starts).
    """

    token: str | None = None
    app_id: str | None = None
    app_secret: str | None = None
    aes_key: str | None = None        # EncodingAESKey (43 chars): encrypted (安全模式) messages accepted
    api_base_url: str = DEFAULT_WECHAT_API_BASE  # customer-service API; tests point it at a local fake
    redis_url: str | None = None       # retries deduplicated across processes; None: this process only
    reply_deadline_s: float = 4.5         # after this, answer "success" and reply by customer-service message

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def can_push(self) -> bool:
        """Customer-service messages need the app id and secret."""
        return bool(self.app_id and self.app_secret)

    def overridden(self, overrides: Mapping[str, Any] | None) -> "WeChatSettings":
        """These settings with credentials.yml's non-empty values on top (what Rasa passes the channel)."""
        given = {k: (str(v).strip() if k != "reply_deadline_s" else v)
                 for k, v in dict(overrides or {}).items() if v not in (None, "") and k in _WECHAT_FIELDS}
        if "reply_deadline_s" in given:
            given["reply_deadline_s"] = _deadline(given["reply_deadline_s"])
        if "api_base_url" in given and not given["api_base_url"].endswith("/"):
            given["api_base_url"] += "/"
        return replace(self, **given)


_WECHAT_FIELDS = ("token", "app_id", "app_secret", "aes_key", "api_base_url", "redis_url", "reply_deadline_s")


def _deadline(raw: Any) -> float:
    try:
        deadline = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"WECHAT_REPLY_DEADLINE_S is not a number: {raw!r}") from None
    if not 0 < deadline < 5:
        raise ValueError("WECHAT_REPLY_DEADLINE_S must be between 0 and 5 seconds (WeChat waits 5 s)")
    return deadline


def _wechat(env: Mapping[str, str]) -> WeChatSettings:
    """WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_AES_KEY, WECHAT_API_BASE_URL,
    WECHAT_REDIS_URL (else REDIS_URL), WECHAT_REPLY_DEADLINE_S."""
    def pick(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    base = pick("WECHAT_API_BASE_URL") or DEFAULT_WECHAT_API_BASE
    return WeChatSettings(
        token=pick("WECHAT_TOKEN"), app_id=pick("WECHAT_APP_ID"), app_secret=pick("WECHAT_APP_SECRET"),
        aes_key=pick("WECHAT_AES_KEY"), api_base_url=base if base.endswith("/") else base + "/",
        redis_url=pick("WECHAT_REDIS_URL") or pick("REDIS_URL"),
        reply_deadline_s=_deadline(env.get("WECHAT_REPLY_DEADLINE_S", "4.5")),
    )


# --- Privacy (issue 13, finding 10): retention of personal data ---------------------------------------------
DEFAULT_RETENTION_DAYS = 180


@dataclass(frozen=True)
class PrivacySettings:
    retention_days: int = DEFAULT_RETENTION_DAYS  # RETENTION_DAYS: closed tickets' and old conversations' personal data
    opt_out_secret: str | None = None  # OPT_OUT_SECRET: key of the opt-out list's HMAC; None = .run/opt_out_secret


def _privacy(env: Mapping[str, str]) -> PrivacySettings:
    days = env_number(env, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS, int)
    if days < 1:
        raise ValueError(f"RETENTION_DAYS={days} must be at least 1 (days)")
    secret = (env.get("OPT_OUT_SECRET") or "").strip() or None
    if secret is not None and len(secret) < 16:
        raise ValueError("OPT_OUT_SECRET must be at least 16 characters")
    return PrivacySettings(retention_days=days, opt_out_secret=secret)


def opt_out_secret(settings: "Settings") -> bytes:
    """OPT_OUT_SECRET, or a random secret kept in .run/opt_out_secret across runs (outside the database: a dump of
    the database alone cannot be brute-forced back to phone numbers). Several hosts: set OPT_OUT_SECRET."""
    if settings.privacy.opt_out_secret:
        return settings.privacy.opt_out_secret.encode()
    path = RUN_DIR / "opt_out_secret"
    if path.exists() and path.read_text().strip():
        return path.read_text().strip().encode()
    RUN_DIR.mkdir(exist_ok=True)
    secret = secrets.token_hex(32)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret.encode()
# --- end of the privacy block ----------------------------------------------------------------------------------
# --- Exposure and shared secrets of the internal services (issue 13, findings 1, 4, 7) -------------------------
# Only the citizen page (WEB_HOST) listens on every interface by default; Rasa, the action server, the voice
# gateway's control API (VOICE_CONTROL_HOST) and the admin console (ADMIN_HOST) listen on loopback unless opened.
@dataclass(frozen=True)
class LoadSettings:
    """Overload (issue 14): chat is admitted in front of Rasa with a bounded number in flight; voice never is."""

    chat_max_inflight: int = 4  # CHAT_MAX_INFLIGHT: chat messages Rasa works on at a time
    chat_max_queue: int = 32  # CHAT_MAX_QUEUE: chat messages waiting for a slot; beyond: 503 at once
    chat_queue_timeout_s: float = 2.0  # CHAT_QUEUE_TIMEOUT_S: longest wait for a slot, then 503


def _load(env: Mapping[str, str]) -> LoadSettings:
    queue = env_number(env, "CHAT_MAX_QUEUE", LoadSettings.chat_max_queue, int)
    if queue < 0:
        raise ValueError(f"CHAT_MAX_QUEUE={queue} must be 0 or more")
    return LoadSettings(chat_max_inflight=_at_least_one(env, "CHAT_MAX_INFLIGHT", LoadSettings.chat_max_inflight),
                        chat_max_queue=queue,
                        chat_queue_timeout_s=_positive(env, "CHAT_QUEUE_TIMEOUT_S", LoadSettings.chat_queue_timeout_s))


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus endpoints (issue 14) of the services whose own port faces citizens or that have none."""

    host: str = "127.0.0.1"  # METRICS_HOST: where those endpoints listen
    web_port: int = 9103  # WEB_METRICS_PORT: the citizen page's /metrics (never on its public port)
    callbacks_port: int = 9104  # CALLBACKS_METRICS_PORT: the callbacks service's /metrics
    memdebug_dir: Path | None = None  # SEAT_MEMDEBUG_DIR: memory diagnostics on (ground/memdebug.py), diagnosis only
    memdebug_frames: int = 8  # SEAT_MEMDEBUG_FRAMES: tracemalloc frames kept per allocation


def _metrics(env: Mapping[str, str]) -> MetricsSettings:
    return MetricsSettings(host=env.get("METRICS_HOST") or "127.0.0.1",
                           web_port=env_number(env, "WEB_METRICS_PORT", MetricsSettings.web_port, int),
                           callbacks_port=env_number(env, "CALLBACKS_METRICS_PORT", MetricsSettings.callbacks_port, int),
                           memdebug_dir=Path(env["SEAT_MEMDEBUG_DIR"]) if env.get("SEAT_MEMDEBUG_DIR") else None,
                           memdebug_frames=_at_least_one(env, "SEAT_MEMDEBUG_FRAMES", MetricsSettings.memdebug_frames))


# Each secret is the variable's value, else generated once into .run/ (mode 600) and shared by the local services.

@dataclass(frozen=True)
class InternalSettings:
    rasa_host: str = "127.0.0.1"  # RASA_HOST: where Rasa (REST channel and HTTP API) listens
    action_host: str = "127.0.0.1"  # ACTION_HOST: where the action server listens
    action_token: str | None = None  # ACTION_TOKEN: Rasa -> action server secret; None = .run/action_token
    push_token: str | None = None  # WEB_PUSH_TOKEN: callbacks -> citizen page's /internal/push; None = .run/push_token
    voice_control_token: str | None = None  # VOICE_CONTROL_TOKEN: control API secret; None = .run/voice_control_token


def _internal(env: Mapping[str, str]) -> InternalSettings:
    def secret(name: str) -> str | None:
        value = (env.get(name) or "").strip()
        if value and not usable_secret(value):
            raise ValueError(f"{name} must be at least 16 letters, digits, '_' or '-' and not start with '-'")
        return value or None

    return InternalSettings(
        rasa_host=env.get("RASA_HOST") or "127.0.0.1",
        action_host=env.get("ACTION_HOST") or "127.0.0.1",
        action_token=secret("ACTION_TOKEN"),
        push_token=secret("WEB_PUSH_TOKEN"),
        voice_control_token=secret("VOICE_CONTROL_TOKEN"),
    )


_SECRET_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{15,}")


def usable_secret(value: str) -> bool:
    """A secret that works in a header, a query string and as a command-line value: no '-' first, no spaces."""
    return bool(_SECRET_RE.fullmatch(value))


def run_secret(name: str, run_dir: Path | None = None) -> str:
    """The secret kept in `run_dir`/`name` (default .run/), created (hex: never starts with '-') when missing and
    replaced when the stored one is unusable (empty, or an older token starting with '-'). Concurrent first
    calls of several services agree: the file is created with a hard link, which fails if another one won."""
    run_dir = run_dir or RUN_DIR
    path = run_dir / name
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        stored = None
    if stored and usable_secret(stored):
        return stored
    run_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    tmp = run_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    try:
        if stored is not None:  # an unusable token: replace it
            os.replace(tmp, path)
            return token
        try:
            os.link(tmp, path)
        except FileExistsError:  # another service created it meanwhile: use theirs
            return run_secret(name, run_dir)
        return token
    finally:
        tmp.unlink(missing_ok=True)


def rasa_auth_token(settings: Settings, run_dir: Path | None = None) -> str:
    """RASA_AUTH_TOKEN, or a random token kept in .run/rasa_token across runs (issue 13, finding 4)."""
    return settings.rasa.auth_token or run_secret("rasa_token", run_dir)


def action_token(settings: Settings, run_dir: Path | None = None) -> str:
    """ACTION_TOKEN, or .run/action_token: what Rasa sends the action server (header ACTION_TOKEN_HEADER)."""
    return settings.internal.action_token or run_secret("action_token", run_dir)


def push_token(settings: Settings, run_dir: Path | None = None) -> str:
    """WEB_PUSH_TOKEN, or .run/push_token: what the callbacks send the citizen page's /internal/push."""
    return settings.internal.push_token or run_secret("push_token", run_dir)


def voice_control_token(settings: Settings, run_dir: Path | None = None) -> str:
    """VOICE_CONTROL_TOKEN, or .run/voice_control_token: what the voice gateway's control API requires."""
    return settings.internal.voice_control_token or run_secret("voice_control_token", run_dir)


ACTION_TOKEN_HEADER = "X-Seat-Action-Token"
PUSH_TOKEN_HEADER = "X-Seat-Push-Token"
VOICE_CONTROL_TOKEN_HEADER = "X-Seat-Voice-Token"
# --- end of the exposure and secrets block ------------------------------------------------------------------


# --- Rasa tier (issue 15): how many Rasa processes answer on RASA_PORT ------------------------------------------
RASA_SCALING_MODES = ("haproxy", "workers")


@dataclass(frozen=True)
class TierSettings:
    """RASA_PROCESSES / RASA_SCALING (seat.scaling decides what applies: one process without REDIS_URL)."""

    rasa_processes: int = field(default_factory=lambda: os.cpu_count() or 1)  # RASA_PROCESSES
    rasa_scaling: str = "haproxy"  # RASA_SCALING: "haproxy" (N processes behind HAProxy) or "workers" (SANIC_WORKERS)
    rasa_urls_given: bool = False  # RASA_URLS set by hand: the launcher keeps it for the console


def _tier(env: Mapping[str, str]) -> TierSettings:
    mode = (env.get("RASA_SCALING") or "haproxy").strip()
    if mode not in RASA_SCALING_MODES:
        raise ValueError(f"RASA_SCALING={mode!r} is not one of {', '.join(RASA_SCALING_MODES)}")
    return TierSettings(rasa_processes=_at_least_one(env, "RASA_PROCESSES", os.cpu_count() or 1),
                        rasa_scaling=mode, rasa_urls_given=bool(env.get("RASA_URLS")))
# --- end of the Rasa tier block ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Everything configurable by environment variables (see README, 'Settings')."""

    db: DbSettings = field(default_factory=DbSettings)
    rasa: RasaSettings = field(default_factory=RasaSettings)
    files: DataFiles = field(default_factory=DataFiles)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    web: WebSettings = field(default_factory=WebSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    internal: InternalSettings = field(default_factory=InternalSettings)  # issue 13: listen addresses, secrets
    handoff: HandoffSettings = field(default_factory=HandoffSettings)  # issue 16: human agents
    timezone: str = DEFAULT_TIMEZONE  # SEAT_TIMEZONE
    load: LoadSettings = field(default_factory=LoadSettings)  # issue 14: chat admission in front of Rasa
    metrics: MetricsSettings = field(default_factory=MetricsSettings)  # issue 14: Prometheus endpoints
    tier: TierSettings = field(default_factory=TierSettings)  # issue 15: Rasa processes on RASA_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """The tree from `env` (default os.environ); ValueError naming the variable when a value is bad."""
        env = os.environ if env is None else env
        rasa = _rasa(env)
        return cls(
            db=DbSettings(url=env.get("DATABASE_URL") or default_database_url(),
                          redis_url=env.get("REDIS_URL") or None,
                          spool_dir=Path(env.get("SEAT_SPOOL_DIR") or DbSettings.spool_dir).resolve(),
                          spool_drain_s=_positive(env, "SPOOL_DRAIN_SECONDS", DbSettings.spool_drain_s)),
            rasa=rasa,
            files=DataFiles(
                categories=Path(env.get("SEAT_CATEGORIES_FILE") or DataFiles.categories),
                dispatch=Path(env.get("SEAT_DISPATCH_FILE") or DataFiles.dispatch),
                places=Path(env.get("SEAT_PLACES_FILE") or DataFiles.places),
            ),
            voice=_voice(env),
            web=WebSettings(host=env.get("WEB_HOST", "0.0.0.0"), port=env_number(env, "WEB_PORT", 8000, int),
                            max_calls=env_number(env, "WEB_MAX_CALLS", 20, int),
                            calls_per_client=_at_least_one(env, "WEB_CALLS_PER_CLIENT", 2),
                            chat_per_minute=_at_least_one(env, "WEB_CHAT_PER_MINUTE", 30),
                            pages_per_client=_at_least_one(env, "WEB_PAGES_PER_CLIENT", 10)),
            admin=_admin(env, rasa),
            callbacks=_callbacks(env),
            wechat=_wechat(env),
            privacy=_privacy(env),
            internal=_internal(env),
            handoff=HandoffSettings(
                hours=ServiceHours.parse(env.get("HANDOFF_HOURS") or "00:00-24:00",
                                         env.get("SEAT_TIMEZONE", DEFAULT_TIMEZONE)),
                require_online=env.get("HANDOFF_REQUIRE_ONLINE", "0") == "1",
                abandon_after=_minutes(env, "HANDOFF_ABANDON_MINUTES", timedelta(minutes=30))),
            timezone=env.get("SEAT_TIMEZONE", DEFAULT_TIMEZONE),
            load=_load(env),
            metrics=_metrics(env),
            tier=_tier(env),
        )


def _rasa(env: Mapping[str, str]) -> RasaSettings:
    port = env_number(env, "RASA_PORT", 5005, int)
    action_port = env_number(env, "ACTION_PORT", 5055, int)
    return RasaSettings(
        port=port,
        action_port=action_port,
        auth_token=env.get("RASA_AUTH_TOKEN") or None,
        action_endpoint=env.get("ACTION_ENDPOINT_URL") or f"http://localhost:{action_port}/webhook",
        url=env.get("RASA_URL") or f"http://127.0.0.1:{port}",
        models_dir=Path(env["ADMIN_MODELS_DIR"]).resolve() if env.get("ADMIN_MODELS_DIR") else DEFAULT_MODELS_DIR,
    )


def _voice(env: Mapping[str, str]) -> VoiceSettings:
    endpoint_ms = env_number(env, "VOICE_ENDPOINT_MS", DEFAULT_ENDPOINT_MS, int)
    low, high = ENDPOINT_RANGE_MS
    if not low <= endpoint_ms <= high:
        raise ValueError(f"VOICE_ENDPOINT_MS={endpoint_ms}: use {low}-{high} ms (default {DEFAULT_ENDPOINT_MS})")
    return VoiceSettings(
        vosk_model=env.get("VOSK_MODEL", "").strip(),
        asr_threads=max(1, env_number(env, "ASR_THREADS", 2, int)),
        endpoint_ms=endpoint_ms,
        silence_s=env_number(env, "VOICE_SILENCE_S", 8.0, float),
        warm_recognizers=env_number(env, "VOICE_WARM_RECOGNIZERS", 2, int),
        audiosocket_host=env.get("AUDIOSOCKET_HOST", "127.0.0.1"),
        audiosocket_port=env_number(env, "AUDIOSOCKET_PORT", 9092, int),
        control_host=env.get("VOICE_CONTROL_HOST", "127.0.0.1"),
        control_port=env_number(env, "VOICE_CONTROL_PORT", 9093, int),
        tts_voice=env.get("TTS_VOICE", "").strip() or None,
        tts_threads=env.get("TTS_THREADS", "1").strip(),
        tts_cache_size=max(0, env_number(env, "TTS_CACHE_SIZE", 128, int)),
        dialogue_timeout_s=_positive(env, "VOICE_DIALOGUE_TIMEOUT_S", 8.0),
        filler_s=_positive(env, "VOICE_FILLER_S", 1.5),
    )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = env_number(env, name, default, float)
    if value <= 0:
        raise ValueError(f"{name}={value:g} must be more than 0 seconds")
    return value


def _admin(env: Mapping[str, str], rasa: RasaSettings) -> AdminSettings:
    urls = env.get("RASA_URLS") or f"http://127.0.0.1:{rasa.port}"
    secret = env.get("ADMIN_SECRET")
    return AdminSettings(
        port=env_number(env, "ADMIN_PORT", 8080, int),
        host=env.get("ADMIN_HOST") or "127.0.0.1",
        flows_dir=Path(env.get("FLOWS_DIR") or REPO_ROOT).resolve(),
        data_dir=Path(env.get("ADMIN_DATA_DIR") or RUN_DIR).resolve(),
        rasa_urls=tuple(u.strip().rstrip("/") for u in urls.split(",") if u.strip()),
        secret=secret.encode() if secret else None,
        secure_cookie=env.get("ADMIN_SECURE_COOKIE", "0") == "1",
        operator_gone_s=_positive(env, "HANDOFF_OPERATOR_GONE_S", 20.0),
    )


def _minutes(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = env.get(name)
    return timedelta(minutes=env_number(env, name, 0.0, float)) if raw else default


def _callbacks(env: Mapping[str, str]) -> CallbackSettings:
    retries = env.get("CALLBACK_RETRY_MINUTES", "").split(",")
    spacing = tuple(timedelta(minutes=_number("CALLBACK_RETRY_MINUTES", m, float)) for m in retries if m.strip())
    window = CallingWindow(
        start=time.fromisoformat(env.get("CALLBACK_WINDOW_START", "09:00")),
        end=time.fromisoformat(env.get("CALLBACK_WINDOW_END", "20:00")),
        tz=env.get("SEAT_TIMEZONE", DEFAULT_TIMEZONE),
        extra_holidays=parse_dates(env.get("CALLBACK_EXTRA_HOLIDAYS")),
        extra_workdays=parse_dates(env.get("CALLBACK_EXTRA_WORKDAYS")),
    )
    policy = SurveyPolicy(
        delay=_minutes(env, "CALLBACK_DELAY_MINUTES", SurveyPolicy.delay),
        window=window,
        max_attempts=env_number(env, "CALLBACK_MAX_ATTEMPTS", SurveyPolicy.max_attempts, int),
        retry_spacing=spacing or SurveyPolicy.retry_spacing,
        busy_spacing=_minutes(env, "CALLBACK_BUSY_MINUTES", SurveyPolicy.busy_spacing),
        lease=_minutes(env, "CALLBACK_LEASE_MINUTES", SurveyPolicy.lease),
        chat_wait=_minutes(env, "CALLBACK_CHAT_WAIT_MINUTES", SurveyPolicy.chat_wait),
        satisfaction_weight=env_number(env, "CALLBACK_SATISFACTION_WEIGHT", SurveyPolicy.satisfaction_weight, float),
    )
    control_port = env_number(env, "VOICE_CONTROL_PORT", 9093, int)
    web_port = env_number(env, "WEB_PORT", 8000, int)  # the push endpoint is on the citizen page, not the console
    return CallbackSettings(
        policy=policy,
        dialer=env.get("CALLBACK_DIALER", "").strip().lower(),
        workers=env_number(env, "CALLBACK_WORKERS", 2, int),
        poll_seconds=env_number(env, "CALLBACK_POLL_SECONDS", 30.0, float),
        simulated_keys=env.get("CALLBACK_SIMULATED_KEYS", "1111"),
        gateway_url=env.get("VOICE_GATEWAY_URL") or f"http://127.0.0.1:{control_port}",
        web_push_url=env.get("WEB_PUSH_URL") or f"http://127.0.0.1:{web_port}/internal/push",
        health_port=env_number(env, "CALLBACKS_HEALTH_PORT", CallbackSettings.health_port, int),
        ari=AriSettings(url=env.get("ARI_URL") or None, user=env.get("ARI_USER") or None,
                        password=env.get("ARI_PASSWORD") or None,
                        endpoint=env.get("ARI_ENDPOINT", AriSettings.endpoint),
                        context=env.get("ARI_CONTEXT", AriSettings.context)),
    )


@functools.lru_cache(maxsize=1)
def current() -> Settings:
    """This process's settings, built from os.environ on first use (tests reset it with `current.cache_clear()`)."""
    return Settings.from_env()
