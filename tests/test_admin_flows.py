"""Structured edits of the dialogue files, validation and revisions — on a copy of the project's files."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from admin.services import flowforms as ff
from ground.store import revisions
from admin.services.flows import FlowService, UnknownFile
from admin.services.validation import check_yaml, validate_project
from ground.settings import REPO_ROOT
from tests.admin_support import copy_flows

DOMAIN = (REPO_ROOT / "domain.yml").read_text(encoding="utf-8")
RULES = (REPO_ROOT / "data" / "rules.yml").read_text(encoding="utf-8")


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    return copy_flows(tmp_path)


def test_response_variations_replace_only_that_response() -> None:
    new = ff.set_response(DOMAIN, "utter_thank", ["不客气。", "不用谢，应该的。"])
    assert ff.responses(new)["utter_thank"] == [{"text": "不客气。"}, {"text": "不用谢，应该的。"}]
    diff = revisions.unified_diff(DOMAIN, new, "domain.yml")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-    - text: 不客气，感谢您对我们工作的支持。", "+    - text: 不客气。", "+    - text: 不用谢，应该的。"]
    assert "# Everything a citizen hears" in new  # comments kept


def test_response_keeps_the_other_keys_of_a_variation() -> None:
    old = ff.responses(DOMAIN)["utter_goodbye"][0]
    new = ff.set_response(DOMAIN, "utter_goodbye", ["再见，祝您生活愉快。"])
    assert ff.responses(new)["utter_goodbye"] == [{**old, "text": "再见，祝您生活愉快。"}]


def test_response_needs_a_text_and_utter_name() -> None:
    with pytest.raises(ff.FormError):
        ff.set_response(DOMAIN, "utter_goodbye", ["", "  "])
    with pytest.raises(ff.FormError):
        ff.set_response(DOMAIN, "goodbye", ["再见"])


def test_intent_examples_and_synonyms() -> None:
    text = "version: \"3.1\"\nnlu:\n- intent: greet\n  examples: |\n    - 你好\n"
    new = ff.set_nlu_examples(text, "intent", "greet", ["你好", "您好呀"])
    assert yaml.safe_load(new)["nlu"][0]["examples"] == "- 你好\n- 您好呀\n"
    new = ff.set_nlu_examples(new, "synonym", "朝阳区", ["朝阳", "潮阳"])
    items = ff.nlu_items({"f.yml": new}, "synonym")
    assert items[0].name == "朝阳区" and items[0].examples == ["朝阳", "潮阳"]
    new = ff.set_nlu_examples(new, "lookup", "小区", ["望京西园", "天通苑"])
    assert [i.name for i in ff.nlu_items({"f.yml": new}, "lookup")] == ["小区"]
    assert ff.nlu_items({"f.yml": ff.delete_nlu_item(new, "synonym", "朝阳区")}, "synonym") == []


def test_new_intent_is_listed_in_the_domain() -> None:
    new = ff.ensure_intent_in_domain(DOMAIN, "ask_weather")
    assert "ask_weather" in yaml.safe_load(new)["intents"]
    assert ff.ensure_intent_in_domain(new, "ask_weather") == new


def test_rules_edit_add_delete() -> None:
    blocks = ff.story_blocks(RULES, "rules")
    first = blocks[0]
    assert first.steps and "intent: complain" in first.steps[0]
    new = ff.set_story_block(RULES, "rules", "问候规则", "steps:\n- intent: greet\n- action: utter_greet\n")
    assert ff.story_blocks(new, "rules")[-1].name == "问候规则"
    renamed = ff.set_story_block(new, "rules", "问候规则2", "steps:\n- intent: greet\n- action: utter_greet\n",
                                 original="问候规则")
    assert [b.name for b in ff.story_blocks(renamed, "rules")][-1] == "问候规则2"
    assert len(ff.story_blocks(ff.delete_story_block(renamed, "rules", "问候规则2"), "rules")) == len(blocks)
    with pytest.raises(ff.FormError):
        ff.set_story_block(RULES, "rules", "坏的", "steps: [")
    with pytest.raises(ff.FormError):
        ff.set_story_block(RULES, "rules", first.name, "steps:\n- action: x\n")  # duplicate name


def test_forms_slots_and_prompts() -> None:
    forms = ff.forms(DOMAIN)
    slots = {s.slot: s for s in forms["ticket_form"]}
    assert slots["contact_name"].prompt_response == "utter_ask_contact_name"
    assert slots["confirmed"].asked_by_action == "action_ask_confirmed"
    order = [s.slot for s in forms["ticket_form"]]
    new = ff.set_form(DOMAIN, "ticket_form", order, {"contact_name": ["请问怎么称呼您？"],
                                                     "confirmed": ["ignored: a custom action asks this"]})
    assert ff.forms(new)["ticket_form"][order.index("contact_name")].prompt_texts == ["请问怎么称呼您？"]
    assert "ignored" not in new
    with pytest.raises(ff.FormError):
        ff.set_form(DOMAIN, "ticket_form", order + ["no_such_slot"], {})


def test_yaml_syntax_errors_have_a_line() -> None:
    errors = check_yaml({"domain.yml": "version: '3.1'\nresponses:\n  utter_x:\n  - text: [\n"})
    assert errors and "domain.yml" in errors[0] and "行" in errors[0]


def test_the_project_validates(flows: Path) -> None:
    assert validate_project(flows).ok


def test_a_story_with_an_unknown_action_is_refused(flows: Path) -> None:
    stories = flows / "data" / "stories.yml"
    stories.write_text(ff.set_story_block(stories.read_text(), "stories", "坏故事",
                                          "steps:\n- intent: greet\n- action: utter_no_such_response\n"))
    result = validate_project(flows)
    assert not result.ok
    assert any("utter_no_such_response" in e for e in result.errors + result.warnings)


async def test_save_is_validated_and_revisioned(flows: Path, clean_db) -> None:
    import asyncio

    async def run(func, *args):
        return await asyncio.to_thread(func, *args)

    service = FlowService(flows, clean_db, run)
    domain = (flows / "domain.yml").read_text()
    new = ff.set_response(domain, "utter_thank", ["不客气，这是我们应该做的。"])
    result = await service.save("editor1", {"domain.yml": new}, "改感谢话术")
    assert result.saved and result.changed == ["domain.yml"]
    assert (flows / "domain.yml").read_text() == new
    [rev] = revisions.list_revisions(clean_db, "domain.yml")
    assert rev.author == "editor1" and rev.content == new and "+    - text: 不客气，这是我们应该做的。" in rev.diff

    bad = new.replace("  - greet\n", "  - greet\n  - [broken\n", 1)
    refused = await service.save("editor1", {"domain.yml": bad}, "坏的")
    assert not refused.saved and refused.validation.errors
    assert (flows / "domain.yml").read_text() == new  # nothing lost, nothing half-written
    assert len(revisions.list_revisions(clean_db)) == 1
    with pytest.raises(UnknownFile):
        await service.save("editor1", {"../etc/passwd": "x"}, "no")
    assert (REPO_ROOT / "domain.yml").read_text() == DOMAIN  # the repo's own file untouched
