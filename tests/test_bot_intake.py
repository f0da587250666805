"""The intake form's decisions (bot.intake.step): what each citizen message fills and what is asked next."""
from __future__ import annotations

from bot.intake import DECLINED, Turn, next_slot, step


def say(slots: dict, text: str, intent: str | None = "inform", requested: str | None = None, ranking=()) -> tuple[dict, object]:
    out = step(slots, Turn(text=text, intent=intent, requested_slot=requested, ranking=ranking))
    return {**slots, **out.changes}, out


def test_opening_with_type_and_description_asks_for_the_place_next():
    slots, out = say({}, "我要投诉，我家旁边的工地每天晚上十一点以后还在施工，吵得根本睡不着", "complain")
    assert slots["request_type"] == "complaint"
    assert "工地" in slots["description"] and slots["category"] == "噪音扰民"
    assert slots["request_key"] and next_slot(slots) == "district"


def test_one_utterance_fills_district_street_phone_and_description():
    slots, _ = say({}, "我是西城区什刹海街道的，电话13612345678，胡同里的垃圾三天没人清运了", "complain")
    assert (slots["district"], slots["street"], slots["phone"]) == ("西城区", "什刹海街道", "13612345678")
    assert "13612345678" not in slots["description"] and "垃圾" in slots["description"]
    assert slots["category"] == "环境卫生"
    assert next_slot(slots) == "address"  # only what is still missing


def test_request_type_from_ranking_when_the_top_intent_is_inform():
    ranking = [{"name": "inform", "confidence": 0.6}, {"name": "seek_help", "confidence": 0.3}]
    slots, _ = say({}, "海淀区学院路街道，路灯坏了一个星期了", "inform", ranking=ranking)
    assert slots["request_type"] == "help"


def test_short_opening_asks_for_the_description():
    slots, _ = say({}, "我要投诉", "complain")
    assert "description" not in slots or slots["description"] is None
    assert next_slot(slots) == "description"
    slots, _ = say(slots, "小区门口天天有人乱停车，消防通道都堵了", "complain", "description")
    assert "消防通道" in slots["description"]
    # parking or public safety: the classifier is unsure, so the citizen chooses among at most three
    assert next_slot(slots) == "category" and 2 <= len(slots["category_choices"]) <= 3
    assert "交通出行" in slots["category_choices"]
    slots, _ = say(slots, "算交通方面的吧", requested="category")
    assert slots["category"] == "交通出行" and next_slot(slots) == "district"


def test_short_district_name_and_spoken_phone_are_normalised():
    slots, _ = say({}, "我要反映一下，楼下的烧烤店油烟直接往我家窗户里灌", "complain")
    slots, _ = say(slots, "通州北苑街道新华联家园", requested="district")
    assert (slots["district"], slots["street"], slots["address"]) == ("通州区", "北苑街道", "新华联家园")
    slots, _ = say(slots, "幺三九 幺二三四 五六七八", requested="phone")
    assert slots["phone"] == "13912345678"


def test_invalid_phone_says_why_and_asks_again():
    base = {"request_key": "k", "request_type": "help", "description": "路灯坏了", "category": "市政设施",
            "district": "海淀区", "address": "石油大院"}
    slots, out = say(base, "1391234567", requested="phone")
    assert slots.get("phone") is None
    assert any("11位" in s for s in out.say)
    assert next_slot(slots) == "phone"
    assert out.end is None  # one failure is not a handoff
    slots, out = say(slots, "139123", requested="phone")
    assert out.end == "handoff"  # the second failure in a row hands over


def test_name_can_be_declined_and_confidentiality_understood():
    base = {"request_key": "k", "request_type": "complaint", "description": "单位拖欠工资", "category": "劳动保障",
            "district": "大兴区", "address": "某科技园", "phone": "13566667777"}
    slots, _ = say(base, "不想说", requested="contact_name")
    assert slots["contact_name"] == DECLINED and next_slot(slots) == "confidential"
    slots, _ = say(slots, "需要保密", requested="confidential")
    assert slots["confidential"] is True and next_slot(slots) == "confirmed"
    slots2, _ = say({**base, "contact_name": DECLINED}, "不需要保密", requested="confidential")
    assert slots2["confidential"] is False


def test_corrections_in_free_words_then_yes():
    slots = {"request_key": "k", "request_type": "complaint", "description": "工地夜间施工", "category": "噪音扰民",
             "district": "朝阳区", "street": "望京街道", "address": "望京西园三区", "phone": "13911112222",
             "contact_name": "王先生", "confidential": False}
    slots, _ = say(slots, "不对，电话是13800138000", "deny", "confirmed")
    assert slots["phone"] == "13800138000" and slots.get("confirmed") is None
    slots, _ = say(slots, "区错了，是海淀", "deny", "confirmed")
    assert slots["district"] == "海淀区" and slots["street"] is None  # 望京 is not in 海淀
    slots, _ = say(slots, "不对", "deny", "confirmed")
    assert slots["correction_pending"] is True and slots.get("confirmed") is None
    slots, _ = say(slots, "对，没问题", "affirm", "confirmed")
    assert slots["confirmed"] is True and next_slot(slots) is None


def test_interruptions_are_left_to_the_rules():
    slots = {"request_key": "k", "request_type": "complaint", "description": "噪音", "category": "噪音扰民"}
    for text, intent in (("算了", "cancel"), ("转人工", "human_handoff"), ("你们多久能处理", "faq")):
        _, out = say(slots, text, intent, "district")
        assert out.reject, text
    # but "不用了" answering the confidentiality question is an answer, not a cancel
    slots = {**slots, "district": "朝阳区", "address": "x", "phone": "13911112222", "contact_name": DECLINED}
    slots, out = say(slots, "不用了", "cancel", "confidential")
    assert not out.reject and slots["confidential"] is False


def test_outside_beijing_ends_the_form_without_a_ticket():
    slots, _ = say({}, "我要投诉，我们小区垃圾没人收", "complain")
    _, out = say(slots, "我在天津市河西区", requested="district")
    assert out.end == "outside_beijing"


def test_praise_and_suggestion_skip_address_and_confidentiality():
    slots, _ = say({}, "我想表扬一下我们社区的李书记，上周暴雨的时候他连夜带人帮我们排水", "praise")
    slots, _ = say(slots, "丰台区卢沟桥街道万丰社区", requested="district")
    slots, _ = say(slots, "13700001111", requested="phone")
    slots, _ = say(slots, "刘阿姨", requested="contact_name")
    assert slots["request_type"] == "praise" and next_slot(slots) == "confirmed"


def test_time_is_asked_only_where_it_matters_and_any_answer_is_kept():
    slots, _ = say({}, "我要投诉，健身房办的年卡，老板跑路了钱退不回来", "complain")
    slots, _ = say(slots, "东城区东华门街道王府井大街", requested="district")
    assert next_slot(slots) == "occurred_at"
    slots, _ = say(slots, "上周六下午买的", requested="occurred_at")
    assert slots["occurred_at"] and next_slot(slots) == "phone"
    vague, _ = say({**slots, "occurred_at": None}, "最近一直这样", requested="occurred_at")
    assert vague["occurred_at"] == "" and "最近一直这样" in vague["description"]
    # a noise complaint does not ask: the time is usually in the description already
    noise, _ = say({}, "我要投诉，楼下工地天天半夜施工", "complain")
    noise, _ = say(noise, "朝阳区望京街道望京西园三区", requested="district")
    assert next_slot(noise) == "phone"


def test_a_place_given_while_choosing_the_category_is_kept_whole():
    slots, _ = say({}, "我要投诉，小区物业私自涨停车费", "complain")
    assert next_slot(slots) == "category"
    slots, _ = say(slots, "丰台区方庄地区芳古园一区", requested="category")
    assert slots["category"] in slots["category_choices"]
    assert (slots["district"], slots["street"], slots["address"]) == ("丰台区", "方庄地区", "芳古园一区")
    assert next_slot(slots) == "phone"


def test_confidentiality_said_up_front_is_not_asked_again():
    slots, _ = say({}, "我要举报我们单位拖欠工资三个月了，我不想让单位知道是我反映的", "complain")
    assert slots["confidential"] is True
    slots = {**slots, "district": "大兴区", "address": "某科技园", "phone": "13566667777", "contact_name": DECLINED}
    assert next_slot(slots) == "confirmed"


def test_weak_request_words_win_over_an_unsure_intent_only():
    unsure = Turn(text="燃气卡充完值插到表上没反应，想问问该找谁", intent="praise", confidence=0.8)
    assert step({}, unsure).changes["request_type"] == "consultation"
    sure = Turn(text="公园那个公厕锁了一个多礼拜了，帮忙问问", intent="seek_help", confidence=0.99)
    assert step({}, sure).changes["request_type"] == "help"


_AT_PHONE = {"request_key": "k", "request_type": "help", "description": "路灯坏了", "category": "市政设施",
             "district": "海淀区", "address": "石油大院"}


def test_caller_number_is_offered_once_and_taken_on_yes_or_key_1():
    from bot.intake import caller_offer, caller_offer_question

    offer = caller_offer(_AT_PHONE, "+86 139 1234 5678")
    assert offer == "13912345678"
    assert "尾号5678" in caller_offer_question(offer) and "13912345678" not in caller_offer_question(offer)
    offered = {**_AT_PHONE, "phone_offer": offer}
    for answer in ("可以", "是的，就用这个", "1"):
        slots, out = say(offered, answer, "affirm", requested="phone")
        assert slots["phone"] == "13912345678" and not out.say, answer
        assert next_slot(slots) == "contact_name"


def test_declined_caller_number_asks_for_another_and_is_not_offered_again():
    from bot.intake import caller_offer

    offered = {**_AT_PHONE, "phone_offer": "13912345678"}
    slots, out = say(offered, "不行，这个号码不常用", "deny", requested="phone")
    assert slots.get("phone") is None and slots["phone_offer"] == DECLINED
    assert not out.say and slots.get("reprompts") is None  # understood: the form asks for a number
    assert next_slot(slots) == "phone" and caller_offer(slots, "13912345678") is None
    slots, _ = say(offered, "2", requested="phone")
    assert slots["phone_offer"] == DECLINED
    slots, _ = say(offered, "打我另一个手机幺三六幺二三四五六七八", requested="phone")
    assert slots["phone"] == "13612345678"


def test_no_offer_without_a_valid_caller_number_or_once_a_phone_is_known():
    from bot.intake import caller_offer

    assert caller_offer(_AT_PHONE, None) is None
    assert caller_offer(_AT_PHONE, "anonymous") is None
    assert caller_offer(_AT_PHONE, "1234") is None
    assert caller_offer({**_AT_PHONE, "phone": "13600000000"}, "13912345678") is None
    assert caller_offer(_AT_PHONE, "01067891234") == "01067891234"
