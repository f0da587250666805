"""Train the Rasa model only when its inputs changed: the model file is named by their hash."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from ground.settings import REPO_ROOT

MODEL_PREFIX = "seat-"
TRAINING_INPUTS = ("config.yml", "domain.yml", "data")


def training_files(root: Path = REPO_ROOT) -> list[Path]:
    """Every file Rasa trains on (following the data/ symlinks into nlu/ and bot/), sorted."""
    files: list[Path] = []
    for name in TRAINING_INPUTS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for dirpath, _, filenames in os.walk(path, followlinks=True):
                files.extend(Path(dirpath) / f for f in filenames if f.endswith((".yml", ".yaml")))
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def training_fingerprint(root: Path = REPO_ROOT) -> str:
    """A short hash of the names and contents of the training inputs, and the rasa version."""
    import rasa  # lazy: only for its version string; importing rasa takes seconds

    digest = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    for path in training_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path(root: Path = REPO_ROOT) -> Path:
    """Where the model for the current training data lives (it may not exist yet)."""
    return root / "models" / f"{MODEL_PREFIX}{training_fingerprint(root)}.tar.gz"


def ensure_model(root: Path = REPO_ROOT, force: bool = False) -> Path:
    """Train unless a model for exactly these inputs exists; returns the model path."""
    target = model_path(root)
    if target.exists() and not force:
        print(f"seat | model is up to date: {target.relative_to(root)} (no retraining)", flush=True)
        return target
    print(f"seat | training data changed: training {target.name} (this takes a few minutes) ...", flush=True)
    cmd = [
        sys.executable, "-m", "rasa", "train",
        "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
        "--out", str(target.parent), "--fixed-model-name", target.name[: -len(".tar.gz")],
    ]
    subprocess.run(cmd, cwd=root, check=True)
    if not target.exists():
        raise RuntimeError(f"rasa train finished but {target} is missing")
    print(f"seat | trained {target.relative_to(root)}", flush=True)
    return target


# -- models published from the admin console (issue 7) ---------------------------------------------
# The one source of truth for the active model is the pointer file <models dir>/published/current: it names the
# published model file, is replaced atomically by the console when a publish or roll back succeeded on every
# server, and is what `seat run` / `seat serve rasa` start with. The models dir is the setting ADMIN_MODELS_DIR
# (Settings.rasa.models_dir), the same for the console and for the start.
PUBLISHED_POINTER = "current"


def published_dir(models_dir: Path) -> Path:
    """Where published models are kept."""
    return models_dir / "published"


def published_model(models_dir: Path) -> Path | None:
    """The model last published (or rolled back to) from the admin console, if its file is there."""
    pointer = published_dir(models_dir) / PUBLISHED_POINTER
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    return path if path.is_file() and path.name.endswith(".tar.gz") else None


def point_to(models_dir: Path, model: Path) -> None:
    """Make `model` (a file in the published dir) the active one: the pointer is replaced atomically."""
    directory = published_dir(models_dir)
    if model.parent.resolve() != directory.resolve():
        raise ValueError(f"{model} is not in {directory}: publish a kept copy")
    pointer = directory / PUBLISHED_POINTER
    tmp = pointer.with_suffix(".part")
    tmp.write_text(model.name + "\n", encoding="utf-8")
    tmp.replace(pointer)


def model_to_serve(models_dir: Path, root: Path = REPO_ROOT) -> Path:
    """The published model if there is one, else the model of the current training data (trained if needed)."""
    published = published_model(models_dir)
    if published is not None:
        print(f"seat | serving the published model {published} "
              f"(delete {published.parent / PUBLISHED_POINTER} to serve the repo's data)", flush=True)
        return published
    return ensure_model(root)
