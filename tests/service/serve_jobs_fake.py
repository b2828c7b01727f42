"""``ttsd serve`` as the command runs it (build_server + run_server, the job service from the composition root),
over a fake voice that records every sentence it synthesizes: ``python serve_jobs_fake.py LOG [delay_ms_per_batch=MS]``.

Each finished batch appends its sentences to ``LOG``, one per line (``O_APPEND`` writes: lines from a process
killed with SIGKILL are whole), so a test or benchmark can count sentences synthesized twice across a restart.
Settings come from TTSD_* variables like the real command's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from tests.service.fakes import fake_engine
from ttsd.api import create_app
from ttsd.api.server import build_server, run_server
from ttsd.bootstrap import build_jobs
from ttsd.config import load_settings
from ttsd.logs import configure_logging
from ttsd.metrics import Metrics
from ttsd.voices.base import BatchItem, BatchOutput
from ttsd.voices.fake import FakeVoice
from ttsd.voices.options import FakeOptions


def record_syntheses(voice: FakeVoice, log: str) -> None:
    """Make ``voice`` append the text of every item it finished to ``log``."""
    run = voice.run_batch
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def recorded(items: Sequence[BatchItem]) -> BatchOutput:
        output = run(items)
        os.write(fd, "".join(item.utterance.text.replace("\n", " ") + "\n" for item in items).encode())
        return output

    voice.run_batch = recorded  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    log, *options = argv
    delays = {k: float(v) for k, v in (arg.split("=", 1) for arg in options)}
    faults = FakeOptions(delay_ms_per_batch=delays.pop("delay_ms_per_batch", 0.0))
    if delays:
        raise SystemExit(f"unknown options {sorted(delays)}; use delay_ms_per_batch=MS")
    fake = fake_engine(settings, Metrics(), faults=faults)
    record_syntheses(fake.voice, log)
    jobs = build_jobs(settings, fake.engine, fake.metrics)
    app = create_app(settings, engine=fake.engine, metrics=fake.metrics, jobs=jobs)
    return run_server(build_server(app, settings))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
