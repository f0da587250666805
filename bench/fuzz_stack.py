"""Fuzz run against the running seat (issue 14): random and mutated messages to every public entry.

Sends N messages (default 10,000) spread over the entries a client can reach: Rasa's REST webhook, the
citizen page's chat relay, the self-service form and the status look-up, the page's events socket (as a plain
GET), and the WeChat webhook with bad (and, when the token is known, good) signatures. Messages are mutations of
real citizen sentences (the NLU training data in data/ and ../shared/eval/scenarios_public.yml), random unicode,
huge, empty and JSON-broken bodies, wrong types and internal metadata. It counts status codes per entry; the
target is 0 server errors (5xx) and 0 dropped connections, and every service healthy at the end (its health
endpoint answers and a plain citizen sentence still gets a reply).

    .venv/bin/python bench/fuzz_stack.py                          # start actions + Rasa + page on free ports
    .venv/bin/python bench/fuzz_stack.py --messages 300 --seed 7  # a short run
    .venv/bin/python bench/fuzz_stack.py --rasa http://127.0.0.1:5005 --web http://127.0.0.1:8000 \\
        --actions http://127.0.0.1:5055            # target a seat that is already running (`make run`)

Started by this script: a fresh SQLite database in a temporary directory (or --database-url), migrated,
with units and the knowledge base loaded; the newest model in models/; the WeChat channel with a test token;
the page's per-client chat limit raised so the messages reach Rasa (a running seat answers 429 instead,
which counts as a 4xx). A chat message refused by the chat admission in front of Rasa (HTTP 503 with
`Retry-After` and its Mandarin "busy" sentence, seat/chat_admission.py) is counted as `busy`, not as a server
error: it is the designed answer to more chat than Rasa takes at once. Exit status 1 when any other 5xx, dropped
connection or unhealthy service was seen.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import aiohttp
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

SCENARIOS = REPO_ROOT.parent / "shared" / "eval" / "scenarios_public.yml"
WECHAT_TOKEN = "fuzz-wechat-token"
WECHAT_ENV = {"WECHAT_TOKEN": WECHAT_TOKEN, "WECHAT_APP_ID": "wx1234567890abcdef",
              "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}
LAUNCH_SNIPPET = """
import asyncio, json, os, sys
from seat.launcher import Launcher, Service
spec = json.loads(os.environ.pop("STACK_SPEC"))
sys.exit(asyncio.run(Launcher([Service(**s) for s in spec], colour=False).run()))
"""
HEALTHY_SENTENCE = "我要投诉，楼下工地半夜施工"


# --- what is sent ----------------------------------------------------------------


def _strings(node: Any) -> list[str]:
    """Every string leaf of a YAML tree that holds a Chinese character (NLU examples, scenario lines)."""
    if isinstance(node, str):
        lines = [ln.strip().lstrip("- ").strip() for ln in node.splitlines()]
        return [ln for ln in lines if any("\u4e00" <= c <= "\u9fff" for c in ln)]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def citizen_sentences() -> list[str]:
    """Real citizen sentences: the NLU training data and the public evaluation scenarios."""
    found: list[str] = []
    for path in sorted((REPO_ROOT / "data" / "nlu").glob("*.yml")) + [SCENARIOS]:
        if path.exists():
            found += _strings(yaml.safe_load(path.read_text(encoding="utf-8")))
    # annotated entities "[朝阳](district)" read as the citizen says them
    import re
    cleaned = {re.sub(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}", lambda m: m.group(1) or m.group(2) or "", s)
               for s in found}
    return sorted(s for s in cleaned if s)


class Fuzzer:
    """Random and mutated messages, reproducible from a seed."""

    def __init__(self, seed: int, sentences: list[str]) -> None:
        self.rng = random.Random(seed)
        self.sentences = sentences or [HEALTHY_SENTENCE]

    def char(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return chr(self.rng.randint(0x4E00, 0x9FFF))
        if r < 0.45:
            return chr(self.rng.randint(0xFF01, 0xFF5E))  # full-width
        if r < 0.55:
            return self.rng.choice("0123456789零一二三四五六七八九幺两")
        if r < 0.62:
            return chr(self.rng.randint(0x1F300, 0x1FAFF))  # emoji
        if r < 0.70:
            return chr(self.rng.randint(0, 0x1F))  # control characters, NUL included
        if r < 0.75:
            return self.rng.choice(["\u200b", "\ufeff", "\u202e", "\u0301", "\ud7ff", "\U0010ffff", "\\", '"', "'"])
        if r < 0.80:
            return self.rng.choice("<>&;{}[]%$#@!`|")
        return chr(self.rng.randint(0x20, 0x2FFF))

    def random_text(self, n: int | None = None) -> str:
        return "".join(self.char() for _ in range(self.rng.randint(0, 60) if n is None else n))

    def mutate(self, text: str) -> str:
        chars = list(text)
        for _ in range(self.rng.randint(1, 5)):
            how = self.rng.randrange(8)
            at = self.rng.randint(0, len(chars))
            if how == 0:
                chars.insert(at, self.char())
            elif how == 1 and chars:
                del chars[min(at, len(chars) - 1)]
            elif how == 2 and chars:
                chars[min(at, len(chars) - 1)] = self.char()
            elif how == 3:
                chars[at:at] = list(self.rng.choice(self.sentences))  # splice another sentence in
            elif how == 4 and chars:
                piece = chars[at:at + self.rng.randint(1, 6)]
                chars[at:at] = piece * self.rng.randint(2, 50)  # stutter
            elif how == 5:
                chars = chars[:at]  # cut
            elif how == 6:
                chars = [chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in chars]  # full-width
            else:
                chars[at:at] = list(self.rng.choice(["电话", "幺三九", "13912345678", "朝阳区", "工单", "不需要保密",
                                                  "20240315-000123", "9999年前", "我叫", "着火了", "。", " "]))
        return "".join(chars)

    def message(self) -> str:
        """Mostly mutated citizen sentences; also random, empty, whitespace, long and huge texts."""
        r = self.rng.random()
        if r < 0.55:
            return self.mutate(self.rng.choice(self.sentences))
        if r < 0.65:
            return self.rng.choice(self.sentences)
        if r < 0.80:
            return self.random_text()
        if r < 0.84:
            return self.rng.choice(["", " ", "\n\t", "\x00", "　", "\u200b"])
        if r < 0.92:
            return self.random_text(self.rng.randint(1900, 2100))  # around the 2,000-character limit
        return self.rng.choice(self.sentences) * self.rng.randint(200, 3000)  # huge (up to ~200 KB)

    def value(self) -> Any:
        """Any JSON value, for a field where a string belongs."""
        return self.rng.choice([None, 0, -1, 1.5e308, True, [], {}, ["x"], {"text": "你好"}, self.random_text(),
                                "x" * self.rng.choice([0, 256, 5000]), "\x00"])

    def body(self, fields: dict[str, Any]) -> tuple[bytes, str]:
        """A request body and its content type: valid JSON, mutated fields, broken JSON or garbage."""
        r = self.rng.random()
        if r < 0.60:
            doc = dict(fields)
        elif r < 0.78:
            doc = dict(fields)
            for key in self.rng.sample(sorted(doc), k=self.rng.randint(1, len(doc))):
                if self.rng.random() < 0.3:
                    del doc[key]
                else:
                    doc[key] = self.value()
            if self.rng.random() < 0.3:
                doc[self.random_text(5)] = self.value()
        elif r < 0.85:
            doc = self.rng.choice([[], [fields], "text", 42, None])
        elif r < 0.93:
            raw = json.dumps(fields, ensure_ascii=self.rng.random() < 0.5).encode()
            cut = self.rng.randint(0, max(0, len(raw) - 1))
            return raw[:cut] + self.rng.choice([b"", b"}", b"\xff\xfe", b'",', b"\x00"]), "application/json"
        else:
            garbage = self.rng.randbytes(self.rng.randint(0, 3000))
            return garbage, self.rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                             "application/octet-stream"])
        return json.dumps(doc, ensure_ascii=self.rng.random() < 0.5).encode(), "application/json"


# --- the entries -------------------------------------------------------------------


@dataclass
class Targets:
    """Base URLs of the seat's services (empty: not targeted)."""

    rasa: str = ""
    web: str = ""
    actions: str = ""
    wechat_token: str = ""  # when known, some WeChat messages are signed correctly


@dataclass
class Report:
    """What a fuzz run saw."""

    messages: int = 0
    seconds: float = 0.0
    status: dict[str, dict[str, int]] = field(default_factory=dict)  # entry -> status code -> count
    server_errors: list[dict[str, Any]] = field(default_factory=list)  # samples of 5xx / dropped requests
    dropped: int = 0
    healthy: dict[str, bool] = field(default_factory=dict)

    @property
    def total_5xx(self) -> int:
        return sum(n for codes in self.status.values() for code, n in codes.items() if code.startswith("5"))

    @property
    def ok(self) -> bool:
        return self.total_5xx == 0 and self.dropped == 0 and all(self.healthy.values())

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(total_5xx=self.total_5xx, ok=self.ok,
                   per_second=round(self.messages / self.seconds, 1) if self.seconds else None)
        return out


BUSY_WORDS = "当前咨询人数较多"  # the start of seat.chat_admission.BUSY, also relayed by the citizen page
Request = tuple[str, str, str, bytes, dict[str, str]]  # entry, method, url, body, headers


def _wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def _wechat_xml(f: Fuzzer, openid: str) -> bytes:
    content = f.message()[:3000]
    kind = f.rng.choice(["text", "text", "text", "voice", "image", "event", f.random_text(4)])
    xml = (f"<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
           f"<CreateTime>{f.rng.choice(['1700000000', '-1', 'x', ''])}</CreateTime>"
           f"<MsgType><![CDATA[{kind}]]></MsgType><Content><![CDATA[{content}]]></Content>"
           f"<Recognition><![CDATA[{content}]]></Recognition><Event><![CDATA[subscribe]]></Event>"
           f"<MsgId>{f.rng.randint(0, 10**19)}</MsgId></xml>")
    raw = xml.encode("utf-8", "surrogatepass")
    r = f.rng.random()
    if r < 0.15:
        return raw[:f.rng.randint(0, len(raw))]  # cut XML
    if r < 0.25:
        return f.rng.randbytes(f.rng.randint(0, 2000))
    if r < 0.30:
        return b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml>&b;</xml>'
    return raw


def make_request(f: Fuzzer, targets: Targets, senders: list[str], web_senders: list[str]) -> Request | None:
    """One random request to one of the entries."""
    entries = [e for e, base in (("rest", targets.rasa), ("chat", targets.web), ("form", targets.web),
                                 ("status", targets.web), ("events", targets.web), ("wechat", targets.rasa))
               if base]
    weights = {"rest": 40, "chat": 25, "form": 12, "status": 6, "events": 4, "wechat": 13}
    entry = f.rng.choices(entries, [weights[e] for e in entries])[0]
    json_headers = lambda ct: {"Content-Type": ct}  # noqa: E731
    if entry == "rest":
        fields: dict[str, Any] = {"sender": f.rng.choice(senders), "message": f.message()}
        if f.rng.random() < 0.2:
            fields["metadata"] = f.rng.choice([{"channel": "phone"}, {"survey_try": f.rng.randint(0, 10**6)},
                                               {"channel": "x" * 40}, {"call": "\x00"}, [], "meta"])
        body, ct = f.body(fields)
        return entry, "POST", targets.rasa + "/webhooks/rest/webhook", body, json_headers(ct)
    if entry == "chat":
        body, ct = f.body({"sender": f.rng.choice(web_senders), "message": f.message()})
        return entry, "POST", targets.web + "/api/chat", body, json_headers(ct)
    if entry == "form":
        fields = {
            "request_type": f.rng.choice(["complaint", "help", "suggestion", "praise", "consultation", f.random_text(3)]),
            "category": f.rng.choice(["", "环境卫生", f.random_text(4)]),
            "description": f.message()[:3000],
            "district": f.rng.choice(["西城", "朝阳区", "海定", f.random_text(3), ""]),
            "street": f.rng.choice(["什刹海街道", "望京", f.random_text(4), ""]),
            "address": f.mutate("鼓楼西大街 12号"),
            "occurred_at": f.rng.choice(["2026-11-30T08:30", "2026-13-40T99:99", "", "9999-01-01T00:00",
                                          "0001-01-01T00:00", f.random_text(10), "昨天"]),
            "contact_name": f.rng.choice(["李女士", "", f.random_text(30)]),
            "phone": f.rng.choice(["13911112222", "幺三九 1111-2222", "0", "12345", f.mutate("13911112222")]),
            "confidential": f.rng.choice([True, False, "yes", None, 1]),
        }
        body, ct = f.body(fields)
        headers = json_headers(ct)
        if f.rng.random() < 0.3:
            headers["Idempotency-Key"] = f.rng.choice([uuid.uuid4().hex, "short", "x" * 200, "bad key!", "ключ"])
        return entry, "POST", targets.web + "/api/requests", body, headers
    if entry == "status":
        body, ct = f.body({"ticket_no": f.rng.choice(["20240315-000123", f.mutate("20261201-000001"), ""]),
                           "phone": f.rng.choice(["13911112222", f.random_text(12)])})
        return entry, "POST", targets.web + "/api/status", body, json_headers(ct)
    if entry == "events":
        sender = f.rng.choice(web_senders + [f.random_text(8), "", "web-" + "0" * 36])
        return entry, "GET", targets.web + "/ws/events?sender=" + quote(sender.encode("utf-8", "surrogatepass")), b"", {}
    # wechat: bad signatures mostly; good ones when the token is known
    timestamp, nonce = str(f.rng.randint(0, 2**31)), f.random_text(6).encode("utf-8", "surrogatepass").hex()[:12]
    signed = bool(targets.wechat_token) and f.rng.random() < 0.5
    signature = _wechat_signature(targets.wechat_token, timestamp, nonce) if signed else f.rng.choice(
        ["", "0" * 40, f.random_text(40).encode("utf-8", "surrogatepass").hex()[:40]])
    openid = f.rng.choice(["o" + "x" * 27, f.random_text(10).encode("utf-8", "surrogatepass").hex()[:28], ""])
    query = f"?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={openid}"
    if f.rng.random() < 0.1:
        query += "&encrypt_type=aes&msg_signature=" + "0" * 40
    if f.rng.random() < 0.1:
        return entry, "GET", targets.rasa + "/webhooks/wechat/webhook" + query + "&echostr=fuzz", b"", {}
    return entry, "POST", targets.rasa + "/webhooks/wechat/webhook" + query, _wechat_xml(f, openid), \
        {"Content-Type": "text/xml"}


def _says_busy(body: str) -> bool:
    """The body carries the admission's busy sentence (as JSON, maybe with escaped characters)."""
    try:
        body = json.dumps(json.loads(body), ensure_ascii=False)
    except ValueError:
        pass
    return BUSY_WORDS in body


async def send(http: aiohttp.ClientSession, request: Request, report: Report, timeout: float) -> None:
    entry, method, url, body, headers = request
    codes = report.status.setdefault(entry, {})
    try:
        async with http.request(method, url, data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = (await resp.read()).decode("utf-8", "replace")
            code = str(resp.status)
            if resp.status == 503 and "Retry-After" in resp.headers and _says_busy(text):
                code = "busy"  # chat admission's polite refusal (phone before chat), not a server error
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        code = "dropped"
        report.dropped += 1
        detail = f"{type(exc).__name__}: {exc}"
    codes[code] = codes.get(code, 0) + 1
    if code == "dropped" or code.startswith("5"):
        if len(report.server_errors) < 30:
            report.server_errors.append({"entry": entry, "status": code, "url": url[:200],
                                         "body": body[:300].decode("utf-8", "replace"),
                                         **({"error": detail} if code == "dropped" else {})})


async def health(http: aiohttp.ClientSession, targets: Targets) -> dict[str, bool]:
    """Each targeted service answers its health endpoint, and a plain sentence still gets a reply."""
    async def ok(url: str, method: str = "GET", **kw: Any) -> bool:
        try:
            async with http.request(method, url, timeout=aiohttp.ClientTimeout(total=60), **kw) as resp:
                if resp.status != 200:
                    return False
                if kw.get("json") is None:
                    return True
                data = await resp.json(content_type=None)
                return bool(data)
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
            return False

    found = {}
    if targets.rasa:
        found["rasa"] = await ok(targets.rasa + "/")
        found["rasa_reply"] = await ok(targets.rasa + "/webhooks/rest/webhook", "POST",
                                       json={"sender": f"fuzz-health-{uuid.uuid4().hex[:8]}", "message": HEALTHY_SENTENCE})
    if targets.actions:
        found["actions"] = await ok(targets.actions + "/health")
    if targets.web:
        found["web"] = await ok(targets.web + "/health")
        found["web_chat_reply"] = await ok(targets.web + "/api/chat", "POST",
                                           json={"sender": f"web-{uuid.uuid4()}", "message": HEALTHY_SENTENCE})
    return found


async def fuzz(targets: Targets, messages: int, seed: int = 1, concurrency: int = 8, timeout: float = 120.0,
               progress: Callable[[int], None] | None = None) -> Report:
    """Send `messages` fuzzed requests to `targets`; count what came back; check health at the end."""
    f = Fuzzer(seed, citizen_sentences())
    senders = [f"fuzz-{seed}-{i}" for i in range(200)]
    web_senders = [f"web-{uuid.UUID(int=f.rng.getrandbits(128))}" for _ in range(200)]
    requests = [make_request(f, targets, senders, web_senders) for _ in range(messages)]
    report = Report(messages=messages)
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    done = [0]
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, skip_auto_headers=["Content-Type"]) as http:
        async def worker() -> None:
            while not queue.empty():
                await send(http, queue.get_nowait(), report, timeout)
                done[0] += 1
                if progress and done[0] % 500 == 0:
                    progress(done[0])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        report.seconds = round(time.perf_counter() - started, 1)
        report.healthy = await health(http, targets)
    return report


# --- a stack of our own --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnStack:
    """Action server, Rasa and the citizen page under one launcher, on free ports, with a fresh database."""

    def __init__(self, database_url: str | None, tmp: Path) -> None:
        from ground.settings import Settings
        from seat import services

        self.tmp = tmp
        self.database_url = database_url or f"sqlite:///{tmp / 'fuzz.db'}"
        action_port, rasa_port, web_port = free_port(), free_port(), free_port()
        env = {"DATABASE_URL": self.database_url, "RASA_PORT": str(rasa_port), "ACTION_PORT": str(action_port),
               "WEB_PORT": str(web_port), "WEB_HOST": "127.0.0.1", "RASA_AUTH_TOKEN": uuid.uuid4().hex,
               "ACTION_TOKEN": uuid.uuid4().hex, "WEB_PUSH_TOKEN": uuid.uuid4().hex,
               "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
               "WEB_CHAT_PER_MINUTE": "1000000", "WEB_PAGES_PER_CLIENT": "1000", "SEAT_LOG_PII": "0", **WECHAT_ENV}
        settings = Settings.from_env(env)
        models = sorted((REPO_ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not models:
            raise SystemExit("no trained model in models/ (make train)")
        endpoints = services.write_endpoints(settings, tmp / "endpoints.yml")
        self.svcs = [services.action_server(settings), services.rasa_server(settings, models[-1], endpoints),
                     services.web_server(settings)]
        self.env = env
        self.targets = Targets(rasa=f"http://127.0.0.1:{rasa_port}", web=f"http://127.0.0.1:{web_port}",
                               actions=f"http://127.0.0.1:{action_port}", wechat_token=WECHAT_TOKEN)
        self.log = tmp / "stack.log"
        self.proc: subprocess.Popen | None = None

    def prepare(self) -> None:
        from ground.db import create_engine
        from ground.store import migrate
        from ground.store.knowledge import load_kb
        from ground.store.units import load_units

        migrate(self.database_url)
        engine = create_engine(self.database_url)
        try:
            load_units(engine)
            load_kb(engine)
        finally:
            engine.dispose()

    def start(self, timeout: float = 420) -> None:
        self.prepare()
        for svc in self.svcs:
            svc.env.update(self.env)
            svc.ready_timeout = timeout
        spec = json.dumps([s.__dict__ for s in self.svcs], default=list)
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH_SNIPPET], cwd=REPO_ROOT,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                     env={**os.environ, **self.env, "STACK_SPEC": spec}, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if "all services are up" in self.log.read_text(errors="replace"):
                return
            time.sleep(1)
        self.stop()
        raise SystemExit("the stack did not start:\n" + self.log.read_text(errors="replace")[-4000:])

    def stop(self) -> None:
        """SIGINT the launcher's process group (it stops its services); SIGKILL after a minute."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rasa", default="", help="target this running Rasa (no stack is started)")
    parser.add_argument("--web", default="", help="target this running citizen page")
    parser.add_argument("--actions", default="", help="health-check this running action server")
    parser.add_argument("--wechat-token", default="", help="the running seat's WECHAT_TOKEN (signs some messages)")
    parser.add_argument("--database-url", default=None, help="database of the started stack (default: SQLite in a temp dir)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--keep-log", type=Path, help="copy the started stack's log here")
    args = parser.parse_args(argv)

    stack = None
    with tempfile.TemporaryDirectory(prefix="fuzz-stack-") as tmp:
        if args.rasa or args.web:
            targets = Targets(args.rasa.rstrip("/"), args.web.rstrip("/"), args.actions.rstrip("/"), args.wechat_token)
        else:
            stack = OwnStack(args.database_url, Path(tmp))
            print(f"starting actions + Rasa + page (log {stack.log}) ...", flush=True)
            stack.start()
            targets = stack.targets
        try:
            print(f"fuzzing {targets} with {args.messages} messages ...", flush=True)
            report = asyncio.run(fuzz(targets, args.messages, args.seed, args.concurrency,
                                      progress=lambda n: print(f"  {n} sent", flush=True)))
        finally:
            if stack is not None:
                stack.stop()
                log_text = stack.log.read_text(errors="replace")
                tracebacks = log_text.count("Traceback (most recent call last)")
                print(f"stack log: {tracebacks} tracebacks")
                if args.keep_log:
                    args.keep_log.write_text(log_text, encoding="utf-8")
    summary = report.summary()
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
