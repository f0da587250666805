"""A short fuzz run (bench/fuzz_stack.py, 300 messages) against the running stack: Rasa's REST and WeChat
webhooks of the e2e stack, and the citizen page (chat relay, form, status, events) served in process in front
of it. Target: no 5xx, no dropped connection, every service healthy at the end."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from ground.settings import REPO_ROOT
from tests.e2e.conftest import WECHAT_TEST_TOKEN
from tests.web_support import serving
from web.app import WebConfig, create_app

pytestmark = pytest.mark.stack


def _bench():
    spec = importlib.util.spec_from_file_location("fuzz_stack", REPO_ROOT / "bench" / "fuzz_stack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_three_hundred_fuzzed_messages_get_no_server_error(stack) -> None:
    bench = _bench()
    config = WebConfig(rasa_url=stack.api_url, rasa_token=stack.token, database_url=stack.database_url,
                       chat_per_minute=10**6, pages_per_client=10**6)
    async with serving(create_app(config)) as page:
        targets = bench.Targets(rasa=stack.api_url, web=str(page.make_url("")).rstrip("/"),
                                wechat_token=WECHAT_TEST_TOKEN)
        report = await bench.fuzz(targets, messages=300, seed=14, concurrency=6)
    summary = report.summary()
    assert report.total_5xx == 0 and report.dropped == 0, summary["server_errors"]  # "busy" (admission) is no 5xx
    assert all(report.healthy.values()), report.healthy
    sent = sum(sum(codes.values()) for codes in report.status.values())
    assert sent == 300 and {"rest", "chat", "form", "wechat"} <= set(report.status)
    assert sum(report.status["rest"].get(c, 0) for c in ("200",)) > 0  # real sentences were answered
