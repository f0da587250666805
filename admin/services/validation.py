"""Validate a set of dialogue files before they are saved: YAML syntax and schema, then the checks of
`rasa data validate` (rasa's TrainingDataImporter + rasa.validator.Validator) on a staged copy.

Blocking and slow-ish (a few seconds): call from a thread. Warnings do not block a save (as in
`rasa data validate` without --fail-on-warnings); errors do.
"""
from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Warnings of `rasa data validate` that mean the bot would break (a story or rule naming something the
# domain does not have): refused here, as with --fail-on-warnings, while style warnings do not block.
BREAKING_WARNINGS = (
    "but is not a valid utterance action",
    "is not listed in the domain file",
    "but it is not listed in the domain",
)
_lock = threading.Lock()  # warnings.catch_warnings is process-wide: one validation at a time


@dataclass
class ValidationResult:
    ok: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def check_yaml(files: dict[str, str]) -> list[str]:
    """Syntax errors (with line numbers) and files whose top level is not a mapping."""
    errors = []
    for name, text in files.items():
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"第{mark.line + 1}行第{mark.column + 1}列" if mark else ""
            errors.append(f"{name}: YAML 语法错误 {where}: {getattr(exc, 'problem', exc)}")
            continue
        if data is not None and not isinstance(data, dict):
            errors.append(f"{name}: 顶层必须是键值映射（例如 version、nlu、rules、responses）")
    return errors


def validate_project(root: Path) -> ValidationResult:
    """What `rasa data validate` checks, for the project at `root` (config.yml, domain.yml, data/)."""
    files = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
             for p in [root / "domain.yml", *sorted((root / "data").rglob("*.yml"))] if p.is_file()}
    errors = check_yaml(files)
    if errors:
        return ValidationResult(False, errors)
    with _lock:
        return _rasa_validate(root)


def _rasa_validate(root: Path) -> ValidationResult:
    # lazy: rasa takes seconds to import; the console starts without it and warms it up in the background
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    collect = _Collect()
    rasa_logger = logging.getLogger("rasa")
    rasa_logger.addHandler(collect)
    errors: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importer = TrainingDataImporter.load_from_config(
                config_path=str(root / "config.yml"), domain_path=str(root / "domain.yml"),
                training_data_paths=[str(root / "data")])
            domain = importer.get_domain()
            if domain.is_empty():
                errors.append("domain.yml 为空或无法读取")
            else:
                validator = Validator.from_importer(importer)
                checks = {
                    "领域文件": validator.verify_domain_validity(),
                    "故事/规则中的动作": validator.verify_actions_in_stories_rules(),
                    "故事/规则中的表单": validator.verify_forms_in_stories_rules(),
                    "表单槽位": validator.verify_form_slots(),
                    "槽位映射": validator.verify_slot_mappings(),
                    "NLU 数据": validator.verify_nlu(True),
                    "故事结构": validator.verify_story_structure(True),
                }
                errors.extend(f"{name}校验未通过" for name, good in checks.items() if not good)
        except Exception as exc:  # rasa raises many kinds (YamlValidationException, InvalidDomain, ...)
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            rasa_logger.removeHandler(collect)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    log_lines = [r.getMessage() for r in collect.records]
    errors.extend(m for m in _dedupe(messages) if any(p in m for p in BREAKING_WARNINGS))
    if errors:  # the details of a failed check are in its warnings / error log lines
        errors.extend(m for m in log_lines if m not in errors)
        return ValidationResult(False, errors, _dedupe(messages))
    return ValidationResult(True, [], _dedupe(messages + log_lines))


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))
