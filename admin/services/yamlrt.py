"""Round-trip YAML (ruamel, which rasa already uses): edits keep the file's comments and layout."""
from __future__ import annotations

import difflib
import io
import re
from typing import Any

import yaml as plain_yaml
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString


def _yaml_for(text: str) -> YAML:
    """A round-trip YAML with the file's own sequence indentation (`- x` at column 0 or indented)."""
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    if re.search(r"^- ", text, re.M):
        y.indent(mapping=2, sequence=2, offset=0)
    else:
        y.indent(mapping=2, sequence=4, offset=2)
    return y


def load(text: str) -> Any:
    return _yaml_for(text).load(text) if text.strip() else None


def dump(data: Any, like: str) -> str:
    """`data` as YAML text, laid out like the original text `like`.

    ruamel writes a few things its own way (`[{type: custom}]` as `[type: custom]`, `null` as nothing);
    lines that mean the same as the original's are kept as the original wrote them, so a diff shows only
    what changed.
    """
    out = io.StringIO()
    _yaml_for(like).dump(data, out)
    return _keep_equivalent_lines(like, out.getvalue())


def _equivalent(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) - len(a.lstrip()) != len(b) - len(b.lstrip()):
        return False
    try:
        return plain_yaml.safe_load(a.strip()) == plain_yaml.safe_load(b.strip()) is not None
    except plain_yaml.YAMLError:
        return False


def _keep_equivalent_lines(old: str, new: str) -> str:
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    result: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:
            result.extend(o if _equivalent(o, n) else n for o, n in zip(old_lines[i1:i2], new_lines[j1:j2]))
        else:
            result.extend(new_lines[j1:j2])
    return "".join(result)


def literal_lines(lines: list[str]) -> LiteralScalarString:
    """A `|` block of `- item` lines, the way Rasa's NLU examples are written."""
    return LiteralScalarString("".join(f"- {line}\n" for line in lines))


def parse_lines(block: str | None) -> list[str]:
    """The items of a `- item` block."""
    items = []
    for line in (block or "").splitlines():
        line = line.strip()
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line == "-":
            continue
        elif line:
            items.append(line)
    return items
