"""Issue 13, finding 6: one masking for every phone form the seat produces or accepts, and the ticket's names;
viewer pages of the real admin console show neither."""
from __future__ import annotations

import pytest

from admin.app import create_app
from ground.masking import mask_phone, mask_text, phones_in
from ground.store import TicketDraft, TicketStore, users
from tests.admin_support import PASSWORD, admin_config, login, start_client

PHONE = "13812345678"


@pytest.mark.parametrize("spoken", [
    "幺三八幺二三四五六七八", "一三八一二三四五六七八", "幺三八 幺二三四 五六七八", "幺三八，幺二三四，五六七八",
    "壹叁捌壹贰叁肆伍陆柒捌", "１３８ １２３４ ５６７８", "+86 138-1234-5678", "138 1234 5678",
])
def test_every_phone_form_is_masked(spoken: str) -> None:
    text = f"我的电话是{spoken}，谢谢"
    masked = mask_text(text)
    assert masked == "我的电话是138****5678，谢谢"
    assert phones_in(text) == {PHONE}


def test_chinese_numeral_landline_and_plain_numbers_in_text() -> None:
    assert mask_text("座机零幺零六七八九幺二三四") == "座机010****1234"
    assert mask_phone("幺三八幺二三四五六七八") == "138****5678"
    # Numbers that are not phones stay: counts, floors, ticket-like short runs.
    for text in ("我住三号楼两单元五零二室", "等了一二三天", "两千三百块", "工单号20261203-0042"):
        assert mask_text(text) == text


@pytest.fixture
async def viewer(tmp_path, clean_db, database_url):
    users.create_user(clean_db, "vi", PASSWORD, "viewer")
    client = await start_client(create_app(admin_config(tmp_path, database_url), engine=clean_db, run_tests=False,
                                           warm_up=False))
    yield client
    await client.close()


async def test_viewer_pages_mask_spoken_phones_names_and_notes(viewer, clean_db) -> None:
    store = TicketStore(clean_db)
    ticket = store.create_ticket(TicketDraft(
        request_type="complaint", description="邻居李四喜天天装修，我叫王小明，电话幺三八 幺二三四 五六七八",
        conversation_id="conv-mask", request_key="k", category="噪音扰民", district="朝阳区", phone=PHONE,
        contact_name="王小明", channel="voice", extra={"reporter_name": "李四喜"}))
    store.change_status(ticket.ticket_no, "dispatched", actor="op", assigned_unit="gov-chaoyang", note="已回电一三八一二三四五六七八，王小明说周末再来")
    await login(viewer, "vi")
    listing = await (await viewer.get("/tickets")).text()
    detail = await (await viewer.get(f"/tickets/{ticket.ticket_no}")).text()
    for page in (listing, detail):
        assert PHONE not in page and "幺三八 幺二三四 五六七八" not in page and "王小明" not in page
        assert "138****5678" in page
    assert "李四喜" not in detail and "李**" in detail
    assert "一三八一二三四五六七八" not in detail and "已回电138****5678，王**说周末再来" in detail
