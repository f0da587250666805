"""The settings tree: the only reader of the environment, reading every variable the README documents."""
from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest

from ground.settings import REPO_ROOT, Settings, current

SETTINGS_MODULE = REPO_ROOT / "ground" / "settings.py"
# Modules that start subprocesses: they may hand a whole copy of the environment to the child (never read it).
SUBPROCESS_STARTERS = {"seat/launcher.py", "seat/cli.py", "admin/services/training_jobs.py"}


def project_modules() -> list[Path]:
    """Every module of the packages import-linter checks (pyproject.toml, root_packages), and the migrations."""
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.findall(r'"(\w+)"', re.search(r"^root_packages = \[(.*)\]$", pyproject, re.M).group(1))
    assert "ground" in packages and "seat" in packages
    return sorted(p for package in packages + ["migrations"] for p in (REPO_ROOT / package).rglob("*.py"))


def environment_uses(tree: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(use, parent) for every `os.environ`, `os.getenv`, `os.putenv` and `environ`/`getenv` imported from os."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "os" for alias in node.names if alias.name in ("environ", "getenv", "putenv")}
    uses = []
    for node in ast.walk(tree):
        is_os_attr = (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                      and node.attr in ("environ", "getenv", "putenv", "environb"))
        if is_os_attr or (isinstance(node, ast.Name) and node.id in imported):
            uses.append((node, parents.get(node)))
    return uses


def is_whole_copy(parent: ast.AST | None) -> bool:
    """`dict(os.environ)` or `{**os.environ, ...}`: the environment handed on as a whole."""
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "dict":
        return len(parent.args) == 1 and not parent.keywords
    return isinstance(parent, ast.Dict) and None in parent.keys


def test_only_the_settings_module_reads_the_environment() -> None:
    offenders = []
    for path in project_modules():
        if path == SETTINGS_MODULE:
            continue
        name = path.relative_to(REPO_ROOT).as_posix()
        for use, parent in environment_uses(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if name in SUBPROCESS_STARTERS and is_whole_copy(parent):
                continue
            offenders.append(f"{name}:{use.lineno}")
    assert offenders == [], "read the environment in ground/settings.py and pass the settings down"


def test_the_scan_finds_environment_reads() -> None:
    code = ("import os\nfrom os import environ as e, getenv\na = os.environ.get('X')\nb = os.getenv('Y')\n"
            "c = e['Z']\nd = getenv('W')\nf = dict(os.environ)\ng = {**os.environ, 'A': '1'}\n")
    uses = sorted(environment_uses(ast.parse(code)), key=lambda pair: pair[0].lineno)
    assert [use.lineno for use, _ in uses] == [3, 4, 5, 6, 7, 8]
    assert [is_whole_copy(parent) for _, parent in uses] == [False, False, False, False, True, True]


class RecordingEnv(dict):
    """An environment that records which variables were asked for."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


def readme_variables() -> set[str]:
    """The variables in the README's settings tables (tables whose first column is `variable`)."""
    names: set[str] = set()
    in_table = False
    for line in (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| variable |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_every_variable_of_the_readme_is_read_by_the_settings_and_documented() -> None:
    documented = readme_variables() - {"TEST_DATABASE_URL", "TEST_REDIS_URL"}  # the test suite's own
    assert {"DATABASE_URL", "ADMIN_MODELS_DIR", "CALLBACK_WORKERS", "VOSK_MODEL"} <= documented
    env = RecordingEnv()
    Settings.from_env(env)
    assert documented - env.read == set(), "documented but not read by ground/settings.py"
    assert env.read - documented == set(), "read by ground/settings.py but not in the README's settings tables"


def test_the_tree_from_the_environment() -> None:
    settings = Settings.from_env({"DATABASE_URL": "sqlite:///x.db", "RASA_PORT": "5999", "ADMIN_MODELS_DIR": "/srv/m",
                                  "CALLBACK_MAX_ATTEMPTS": "5", "CALLBACK_RETRY_MINUTES": "60,180",
                                  "WEB_PORT": "8123", "VOICE_SILENCE_S": "6", "CALLBACK_DIALER": " ARI "})
    assert settings.db.url == "sqlite:///x.db" and settings.rasa.port == 5999
    assert settings.rasa.url == "http://127.0.0.1:5999" and settings.admin.rasa_urls == ("http://127.0.0.1:5999",)
    assert settings.rasa.models_dir == Path("/srv/m")
    assert settings.callbacks.policy.max_attempts == 5
    assert settings.callbacks.policy.retry_spacing == (timedelta(minutes=60), timedelta(minutes=180))
    assert (settings.web.port, settings.voice.silence_s, settings.callbacks.dialer) == (8123, 6.0, "ari")
    assert settings.callbacks.ari.missing() == ["ARI_URL", "ARI_USER", "ARI_PASSWORD"]
    assert Settings.from_env({}) == Settings()  # the defaults of the tree are those of an empty environment
    with pytest.raises(AttributeError):
        settings.db.url = "postgresql://"  # type: ignore[misc]  (frozen)


@pytest.mark.parametrize("name, value", [("CALLBACK_WORKERS", "two"), ("RASA_PORT", "x"), ("WEB_MAX_CALLS", "1.5"),
                                         ("CALLBACK_RETRY_MINUTES", "60,soon"), ("CALLBACK_BUSY_MINUTES", "half")])
def test_a_bad_number_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{name}=.* is not a number"):
        Settings.from_env({name: value})


def test_the_process_settings_are_built_once(monkeypatch) -> None:
    monkeypatch.setenv("WEB_PORT", "8001")
    first = current()
    monkeypatch.setenv("WEB_PORT", "8002")
    assert current() is first and first.web.port == 8001  # not re-read at use time
    current.cache_clear()
    assert current().web.port == 8002
