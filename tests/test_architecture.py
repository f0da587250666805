"""The layers of the seat (README, "Architecture"): imports only go down, and siblings that must not know each
other do not. The contracts live in pyproject.toml; import-linter checks them on the real import graph."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def lint_imports(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a test dependency (pyproject.toml)"
    return subprocess.run([exe, "--no-cache", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_import_goes_down_the_layers():
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_is_caught(tmp_path):
    """The contracts are not vacuous: a copy of the tree where the store imports the console fails them."""
    for package in ("ground", "nlu", "bot", "voice", "web", "wechat", "callbacks", "admin", "seat"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("static", "data", "templates"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    store = tmp_path / "ground" / "store" / "tickets.py"
    store.write_text(store.read_text(encoding="utf-8") + "\nimport admin.app  # noqa\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.');"
                             "from importlinter.cli import lint_imports_command; lint_imports_command()",
                             "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "ground.store.tickets -> admin.app" in result.stdout


@pytest.mark.parametrize("package", ["ground", "nlu", "bot", "voice", "web", "wechat", "callbacks", "admin", "seat"])
def test_packages_are_importable_on_their_own(package):
    """Each package imports in a fresh interpreter (no hidden cycle that only works in one order)."""
    result = subprocess.run([sys.executable, "-c", f"import {package}, pkgutil, importlib; "
                             f"[importlib.import_module(m.name) for m in pkgutil.walk_packages({package}.__path__, '{package}.')"
                             " if not m.name.endswith('__main__')]"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
