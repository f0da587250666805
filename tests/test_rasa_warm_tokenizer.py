"""A Rasa process of the seat loads jieba's dictionary at start (issue 15: memory), not on the first message."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import time, jieba
from seat.rasa_run import warm_tokenizer
assert not jieba.dt.initialized
warm_tokenizer()
assert jieba.dt.initialized
t0 = time.perf_counter()
words = jieba.lcut("我家旁边的工地每天晚上十一点以后还在施工")
print(round(time.perf_counter() - t0, 3), "/".join(words))
"""


def test_warm_tokenizer_loads_the_dictionary_so_the_first_message_does_not():
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    seconds, words = out.stdout.split()
    assert float(seconds) < 0.5  # loading the dictionary takes seconds; cutting one sentence milliseconds
    assert "工地" in words.split("/") and "施工" in words.split("/")
