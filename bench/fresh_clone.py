"""A newcomer's first `make run`: clone, then the seconds until the seat's first answer, per phase.

Clones a repository (default: this one's committed HEAD) into a temp dir, runs `make run` there with an EMPTY pip
cache of its own (PIP_CACHE_DIR in the temp dir: the machine's cache is neither read nor purged) and the services
on the ports BASE+n (RASA_PORT=BASE+5 ... so that a seat already running on this box is not disturbed), follows
its output for the phases (install, database, training, start) and posts "你好" to Rasa's REST webhook until the
bot answers. Then it stops the stack (SIGINT to the launcher's process group, SIGKILL after 30 s) and deletes the
clone. The pip cache being empty, every wheel is fetched again from the package index (no download is reused).

    .venv/bin/python bench/fresh_clone.py                      # HEAD of this repository, ports 23000+
    .venv/bin/python bench/fresh_clone.py --repo /work/main --branch main --base-port 23100 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# (phase, first line of `make run`'s output that starts it)
PHASES = [
    ("venv", re.compile(r"creating \.venv")),
    ("install", re.compile(r"installing the seat")),
    ("system packages", re.compile(r"system packages")),
    ("database", re.compile(r"-m seat prepare")),
    ("training", re.compile(r"training data changed")),
    ("start", re.compile(r"model is up to date|seat \| trained ")),
]


def ask(port: int) -> str | None:
    body = json.dumps({"sender": f"fresh-clone-{os.getpid()}", "message": "你好"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            answers = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    texts = [a.get("text") for a in answers if a.get("text")]
    return " / ".join(texts) if texts else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(REPO_ROOT))
    parser.add_argument("--branch", help="branch to clone (default: the repository's checked-out HEAD)")
    parser.add_argument("--base-port", type=int, default=23000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the clone and its log")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="fresh-clone-"))
    clone, log_path = tmp / "seat", tmp / "make-run.log"
    b = args.base_port
    ports = {"WEB_PORT": b, "RASA_PORT": b + 5, "ACTION_PORT": b + 55, "ADMIN_PORT": b + 80,
             "AUDIOSOCKET_PORT": b + 92, "VOICE_CONTROL_PORT": b + 93, "WEB_METRICS_PORT": b + 103,
             "CALLBACKS_METRICS_PORT": b + 104, "CALLBACKS_HEALTH_PORT": b + 105}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "DATABASE_URL",
                                                                   "REDIS_URL", "RASA_CACHE"))}
    env.update({k: str(v) for k, v in ports.items()}, PIP_CACHE_DIR=str(tmp / "pip-cache"), WEB_HOST="127.0.0.1")
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    t0 = time.monotonic()
    subprocess.run(["git", "clone", "-q", *(["--branch", args.branch] if args.branch else []), args.repo, str(clone)],
                   check=True)
    marks: dict[str, float] = {"clone": 0.0}
    proc = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def follow() -> None:
        with open(log_path, "wb") as log:
            for raw in proc.stdout:  # type: ignore[union-attr]
                log.write(f"{time.monotonic() - t0:7.1f} ".encode() + raw)
                line = raw.decode(errors="replace")
                for phase, pattern in PHASES:
                    if phase not in marks and pattern.search(line):
                        marks[phase] = time.monotonic() - t0

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    answer, answered_at = None, None
    try:
        while time.monotonic() - t0 < args.timeout and proc.poll() is None:
            if "start" in marks and (answer := ask(ports["RASA_PORT"])):
                answered_at = time.monotonic() - t0
                break
            time.sleep(1)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
        reader.join(5)
    order = sorted(marks.items(), key=lambda kv: kv[1])
    ends = [t for _, t in order[1:]] + [answered_at if answered_at is not None else time.monotonic() - t0]
    result = {"repo": args.repo, "branch": args.branch, "answered": answer is not None, "answer": answer,
              "first_answer_s": round(answered_at, 1) if answered_at else None,
              "phases_s": {name: round(end - start, 1) for (name, start), end in zip(order, ends)},
              "load_before": load_before, "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3])}
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.keep:
        print(f"clone and log kept in {tmp}")
    else:
        subprocess.run(["rm", "-rf", str(tmp)])
    return 0 if answer else 1


if __name__ == "__main__":
    sys.exit(main())
