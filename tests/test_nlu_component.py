"""The Rasa NLU component on real Message objects."""
import pytest

pytest.importorskip("rasa")

from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from nlu.components import HotlineEntityExtractor, hotline_entities  # noqa: E402


def _run(text, config=None):
    component = HotlineEntityExtractor.create(config or {}, None, None, None)
    message = Message(data={"text": text})
    component.process([message])
    return message.get("entities") or []


def test_entities_with_spans_and_normalised_values():
    text = "我在朝阳望京，电话幺三九 幺二三四 五六七八"
    entities = _run(text)
    by_type = {e["entity"]: e for e in entities}
    assert set(by_type) == {"district", "street", "phone"}
    for entity, raw, value in [("district", "朝阳", "朝阳区"), ("street", "望京", "望京街道"),
                               ("phone", "幺三九 幺二三四 五六七八", "13912345678")]:
        e = by_type[entity]
        assert text[e["start"]:e["end"]] == raw
        assert e["value"] == value
        assert e["extractor"] == "HotlineEntityExtractor"
    assert [e["start"] for e in entities] == sorted(e["start"] for e in entities)


def test_ticket_number_entity():
    text = "我想查工单二零二四零三一五 零零零一二三"
    (entity,) = _run(text)
    assert entity["entity"] == "ticket_no" and entity["value"] == "20240315-000123"
    assert text[entity["start"]:entity["end"]] == "二零二四零三一五 零零零一二三"


def test_homophone_district_and_existing_entities_kept():
    component = HotlineEntityExtractor.create({}, None, None, None)
    message = Message(data={"text": "海定区中关村", "entities": [{"entity": "other", "start": 0, "end": 1, "value": "x"}]})
    component.process([message])
    entities = message.get("entities")
    assert entities[0]["entity"] == "other"
    assert [(e["entity"], e["value"]) for e in entities[1:]] == [("district", "海淀区"), ("street", "中关村街道")]


def test_no_entities_no_change():
    message = Message(data={"text": "楼上一直很吵，十一点还不停"})
    HotlineEntityExtractor.create({}, None, None, None).process([message])
    assert not message.get("entities")


def test_configurable_entity_types():
    entities = _run("朝阳区望京街道，电话13912345678", {"entity_types": ["phone"]})
    assert [e["entity"] for e in entities] == ["phone"]


def test_invalid_phone_is_not_an_entity():
    assert all(e["entity"] != "phone" for e in hotline_entities("电话是139123456"))
