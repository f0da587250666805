"""Structured edits of the dialogue files: each function takes a file's text and returns the new text.

Responses (text variations), intents and their examples, synonyms and lookup tables, rules and stories,
forms' required slots and prompts. Edits go through round-trip YAML so comments and layout are kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from admin.services import yamlrt
class FormError(ValueError):
    """The form's input cannot be applied (unknown name, empty list, bad YAML in steps)."""


def _doc(text: str) -> CommentedMap:
    data = yamlrt.load(text)
    if data is None:
        data = CommentedMap()
        data["version"] = "3.1"
    if not isinstance(data, CommentedMap):
        raise FormError("文件顶层不是键值映射")
    return data


def _clean(items: list[str]) -> list[str]:
    return [i.strip() for i in items if i and i.strip()]


# -- responses ---------------------------------------------------------------------------------

def responses(domain_text: str) -> dict[str, list[dict[str, Any]]]:
    """Response name → its variations (each a dict with at least `text` or other keys)."""
    data = _doc(domain_text)
    return {str(k): [dict(v) for v in (vs or [])] for k, vs in (data.get("responses") or {}).items()}


def set_response(domain_text: str, name: str, texts: list[str]) -> str:
    """Replace the text variations of response `name` (created if new). Variations with other keys
    (buttons, conditions, channels) keep those keys; an empty list is refused (delete explicitly)."""
    name = name.strip()
    if not name.startswith("utter_"):
        raise FormError("回复名称必须以 utter_ 开头")
    texts = _clean(texts)
    if not texts:
        raise FormError("至少需要一条回复文本")
    data = _doc(domain_text)
    resp = data.setdefault("responses", CommentedMap())
    old = list(resp.get(name) or [])
    new = CommentedSeq()
    for i, text in enumerate(texts):
        variation = old[i] if i < len(old) and isinstance(old[i], dict) else CommentedMap()
        variation["text"] = text
        new.append(variation)
    resp[name] = new
    return yamlrt.dump(data, domain_text)


def delete_response(domain_text: str, name: str) -> str:
    data = _doc(domain_text)
    if name not in (data.get("responses") or {}):
        raise FormError(f"没有回复 {name}")
    del data["responses"][name]
    return yamlrt.dump(data, domain_text)


# -- NLU: intents, synonyms, lookup tables -------------------------------------------------------

NLU_KINDS = {"intent": "意图", "synonym": "同义词", "lookup": "查找表", "regex": "正则"}


@dataclass(frozen=True)
class NluItem:
    kind: str      # intent / synonym / lookup / regex
    name: str
    file: str
    examples: list[str]


def nlu_items(files: dict[str, str], kind: str = "intent") -> list[NluItem]:
    """Every `kind` block across the NLU files (an intent may be spread over several files)."""
    items = []
    for file, text in files.items():
        for block in (_doc(text).get("nlu") or []):
            if isinstance(block, dict) and kind in block:
                items.append(NluItem(kind, str(block[kind]), file, yamlrt.parse_lines(block.get("examples"))))
    return items


def set_nlu_examples(text: str, kind: str, name: str, examples: list[str]) -> str:
    """Replace the examples of the `kind` block `name` in this file (appended if the file has none)."""
    if kind not in NLU_KINDS:
        raise FormError(f"未知类型 {kind}")
    name, examples = name.strip(), _clean(examples)
    if not name:
        raise FormError("名称不能为空")
    if not examples:
        raise FormError("至少需要一个例句/取值")
    data = _doc(text)
    nlu = data.setdefault("nlu", CommentedSeq())
    for block in nlu:
        if isinstance(block, dict) and str(block.get(kind)) == name:
            block["examples"] = yamlrt.literal_lines(examples)
            break
    else:
        block = CommentedMap()
        block[kind] = name
        block["examples"] = yamlrt.literal_lines(examples)
        nlu.append(block)
    return yamlrt.dump(data, text)


def delete_nlu_item(text: str, kind: str, name: str) -> str:
    data = _doc(text)
    nlu = data.get("nlu") or []
    keep = [b for b in nlu if not (isinstance(b, dict) and str(b.get(kind)) == name)]
    if len(keep) == len(nlu):
        raise FormError(f"没有{NLU_KINDS.get(kind, kind)} {name}")
    nlu[:] = keep
    return yamlrt.dump(data, text)


def ensure_intent_in_domain(domain_text: str, intent: str) -> str:
    """The domain with `intent` listed (unchanged when it already is)."""
    data = _doc(domain_text)
    intents = data.setdefault("intents", CommentedSeq())
    names = {str(i if not isinstance(i, dict) else next(iter(i))) for i in intents}
    if intent in names:
        return domain_text
    intents.append(intent)
    return yamlrt.dump(data, domain_text)


# -- rules and stories ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StoryBlock:
    name: str
    steps_yaml: str   # the steps (and condition etc.) as YAML, for the step editor
    steps: list[str]  # one line per step for display


def _step_line(step: Any) -> str:
    if isinstance(step, dict):
        return "; ".join(f"{k}: {v}" for k, v in step.items())
    return str(step)


def story_blocks(text: str, section: str) -> list[StoryBlock]:
    """The rules (`section='rules'`) or stories (`'stories'`) of a file."""
    key = "rule" if section == "rules" else "story"
    blocks = []
    for block in (_doc(text).get(section) or []):
        body = CommentedMap((k, v) for k, v in block.items() if k != key)
        blocks.append(StoryBlock(str(block.get(key)), yamlrt.dump(body, "- x\n").rstrip() + "\n",
                                 [_step_line(s) for s in block.get("steps") or []]))
    return blocks


def set_story_block(text: str, section: str, name: str, body_yaml: str, original: str | None = None) -> str:
    """Add or replace the rule/story `original` (or `name`) with `name` and the body's steps."""
    key = "rule" if section == "rules" else "story"
    name = name.strip()
    if not name:
        raise FormError("名称不能为空")
    try:
        body = yamlrt.load(body_yaml)
    except Exception as exc:  # ruamel raises several error classes
        raise FormError(f"步骤的 YAML 有误：{exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("steps"), list) or not body["steps"]:
        raise FormError("需要 steps: 列表（例如 - intent: greet / - action: utter_greet）")
    data = _doc(text)
    blocks = data.setdefault(section, CommentedSeq())
    target = original or name
    if original != name and any(str(b.get(key)) == name for b in blocks):
        raise FormError(f"已有同名的{('规则' if key == 'rule' else '故事')}：{name}")
    new = CommentedMap()
    new[key] = name
    for k, v in body.items():
        new[k] = v
    for i, block in enumerate(blocks):
        if str(block.get(key)) == target:
            blocks[i] = new
            break
    else:
        if original:
            raise FormError(f"没有 {original}")
        blocks.append(new)
    return yamlrt.dump(data, text)


def delete_story_block(text: str, section: str, name: str) -> str:
    key = "rule" if section == "rules" else "story"
    data = _doc(text)
    blocks = data.get(section) or []
    keep = [b for b in blocks if str(b.get(key)) != name]
    if len(keep) == len(blocks):
        raise FormError(f"没有 {name}")
    blocks[:] = keep
    return yamlrt.dump(data, text)


# -- forms ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FormSlot:
    slot: str
    prompt_response: str | None   # utter_ask_<form>_<slot> or utter_ask_<slot>, when a response asks
    prompt_texts: list[str]
    asked_by_action: str | None   # action_ask_<slot>, when a custom action asks


def forms(domain_text: str) -> dict[str, list[FormSlot]]:
    """Each form's required slots in order, with the prompt that asks for each."""
    data = _doc(domain_text)
    resp = data.get("responses") or {}
    actions = {str(a) for a in data.get("actions") or []}
    result = {}
    for form, spec in (data.get("forms") or {}).items():
        slots = []
        for slot in (spec or {}).get("required_slots") or []:
            slot = str(slot)
            names = [f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"]
            prompt = next((n for n in names if n in resp), None)
            texts = [str(v.get("text", "")) for v in resp.get(prompt) or []] if prompt else []
            action = next((a for a in (f"action_ask_{form}_{slot}", f"action_ask_{slot}") if a in actions), None)
            slots.append(FormSlot(slot, prompt, texts, action))
        result[str(form)] = slots
    return result


def set_form(domain_text: str, form: str, slots: list[str], prompts: dict[str, list[str]]) -> str:
    """Set the form's required slots (order kept) and the prompt texts of slots asked by a response."""
    data = _doc(domain_text)
    spec = (data.get("forms") or {}).get(form)
    if spec is None:
        raise FormError(f"没有表单 {form}")
    slots = _clean(slots)
    if not slots:
        raise FormError("表单至少需要一个槽位")
    known = set((data.get("slots") or {}).keys())
    unknown = [s for s in slots if s not in known]
    if unknown:
        raise FormError(f"领域中没有这些槽位：{', '.join(unknown)}")
    spec["required_slots"] = CommentedSeq(slots)
    text = yamlrt.dump(data, domain_text)
    existing = {s.slot: s for s in forms(text)[form]}
    for slot, texts in prompts.items():
        texts = _clean(texts)
        info = existing.get(slot)
        if not texts or info is None or info.asked_by_action:
            continue
        text = set_response(text, info.prompt_response or f"utter_ask_{slot}", texts)
    return text
