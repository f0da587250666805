"""Satisfaction surveys of WeChat tickets: over WeChat while the 48-hour service window is open, else by phone."""
from __future__ import annotations

from datetime import timedelta

import aiohttp
from aiohttp import web
from rasa.core.tracker_store import SQLTrackerStore

from callbacks.chat import ChatConfig, ChatDelivery
from ground.survey_policy import SurveyPolicy
from ground.store.survey_tries import schedule_closed
from tests.callbacks_support import as_utc, attempts_of, closed_ticket, local
from tests.wechat_support import APP_ID, fake_wechat_api
from wechat.client import CustomerService, SeatWeChatClient

POLICY = SurveyPolicy()


def citizen_wrote(engine, sender: str, at) -> None:
    """A user event in Rasa's own tracker table, as Rasa writes it."""
    table = SQLTrackerStore.SQLEvent.__table__
    table.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(table.insert().values(sender_id=sender, type_name="user", timestamp=as_utc(at).timestamp(),
                                           intent_name="inform", action_name=None, data="{}"))


def test_wechat_ticket_is_surveyed_over_wechat_inside_the_window_else_by_phone(clean_db) -> None:
    closed = local(2026, 11, 26, 10, 0)
    recent = closed_ticket(clean_db, closed, channel="wechat", conversation_id="oRecentOpenid")
    stale = closed_ticket(clean_db, closed, channel="wechat", conversation_id="oStaleOpenid")
    silent = closed_ticket(clean_db, closed, channel="wechat", conversation_id="oSilentOpenid")
    citizen_wrote(clean_db, "oRecentOpenid", closed - timedelta(hours=3))
    citizen_wrote(clean_db, "oStaleOpenid", closed - timedelta(hours=47))  # window closes before the first try
    assert schedule_closed(clean_db, POLICY, as_utc(closed)).scheduled == 3
    assert attempts_of(clean_db, recent)[0].channel == "chat"
    assert attempts_of(clean_db, stale)[0].channel == "voice"
    assert attempts_of(clean_db, silent)[0].channel == "voice"


async def test_chat_survey_of_a_wechat_conversation_goes_out_as_customer_service_message() -> None:
    triggered = []

    async def trigger(request: web.Request) -> web.Response:  # Rasa's trigger_intent answering the survey action
        triggered.append(request.match_info["sender"])
        return web.json_response({"messages": [{"text": "您对办理结果满意吗？",
                                                "buttons": [{"title": "满意", "payload": "/affirm"},
                                                            {"title": "不满意", "payload": "/deny"}]}]})

    rasa = web.Application()
    rasa.router.add_post("/conversations/{sender}/trigger_intent", trigger)
    runner = web.AppRunner(rasa)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rasa_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        async with fake_wechat_api() as api, aiohttp.ClientSession() as session:
            wechat = CustomerService(SeatWeChatClient(APP_ID, "secret", api.base_url))
            chat = ChatDelivery(ChatConfig(rasa_url=rasa_url, rasa_token="t"), session, wechat=wechat)
            assert await chat.open("oSurveyOpenid") == "live"
            assert await chat.open("web-0123456789abcdef") == "waiting"  # web chats still use the page push
    finally:
        await runner.cleanup()
    assert triggered == ["oSurveyOpenid", "web-0123456789abcdef"]
    assert api.sent == [{"touser": "oSurveyOpenid", "msgtype": "text",
                         "text": {"content": "您对办理结果满意吗？\n可回复：满意、不满意"}}]
