"""A full survey call: the worker claims the try, the simulated callee "picks up" by connecting to the real
voice gateway over AudioSocket, hears the survey (espeak-ng speech from the real Rasa bot) and answers every
question with a DTMF key; the call ends in a survey_results row and an answered try."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest

from callbacks.callee import SimulatedCalleeDialer
from callbacks.worker import CallbackWorker
from ground.db import create_engine
from ground.tables.tickets import utcnow
from tests.callbacks_support import always_open_env, attempts_of, closed_ticket, policy_from, result_of

gateway_module = pytest.importorskip("voice.gateway")


async def _call(stack, engine, keys: str, hang_up_after=None):
    from voice.control import CallRegistry
    from voice.gateway import GatewayConfig, VoiceGateway

    gw = VoiceGateway(GatewayConfig(rasa_url=stack.api_url, rasa_token=stack.token, audiosocket_port=0, control_port=0,
                                    database_url=stack.database_url), model=None, registry=CallRegistry())
    await gw.start()
    try:
        async with aiohttp.ClientSession() as session:
            dialer = SimulatedCalleeDialer(f"http://127.0.0.1:{gw.control_port}", "127.0.0.1", gw.audiosocket_port,
                                           session, keys=keys, hang_up_after=hang_up_after, max_call_s=240,
                                           gateway_token=gw.config.control_token)
            worker = CallbackWorker(engine, dialer, policy_from(always_open_env(utcnow())))
            await worker.schedule()
            outcome = await worker.run_once()
            return outcome, dialer.logs[0], gw.registry
    finally:
        await gw.stop()


@pytest.fixture
def engine(stack):
    eng = create_engine(stack.database_url)
    yield eng
    eng.dispose()


def test_full_simulated_call_answered_by_dtmf_ends_in_a_survey_result(stack, engine) -> None:
    no = closed_ticket(engine, utcnow(), phone="13812345678")
    outcome, heard, _ = asyncio.run(_call(stack, engine, keys="11230"))  # yes, contacted, not solved, 不满意, no reason (0)
    assert outcome == "answered"
    assert heard.keys == ["1", "1", "2", "3", "0"] and heard.audio_frames > 100 and heard.ended_by == "gateway"
    result = result_of(engine, no)
    assert (result.responded, result.resolved, result.satisfaction, result.channel) == (True, False, "unsatisfied", "voice")
    assert result.completed_at is not None and result.comment == "（未说明原因）"
    [only] = attempts_of(engine, no)
    assert (only.attempt, only.outcome, only.channel) == (1, "answered", "voice")


def test_callee_hanging_up_mid_survey_keeps_answers_and_is_retried(stack, engine) -> None:
    no = closed_ticket(engine, utcnow(), phone="13812345679")
    outcome, heard, _ = asyncio.run(_call(stack, engine, keys="11", hang_up_after=2))
    assert outcome == "no_answer" and heard.ended_by == "callee"
    partial = result_of(engine, no)
    assert partial.responded is True and partial.completed_at is None
    tries = attempts_of(engine, no)
    assert [(a.attempt, a.outcome) for a in tries] == [(1, "no_answer"), (2, None)]
