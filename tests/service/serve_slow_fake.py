"""``ttsd serve`` as the command runs it (build_server + run_server), but over a fake voice with options
(``python serve_slow_fake.py delay_ms_per_batch=20000``): lets the drain tests hold a model call open.

Settings come from TTSD_* variables like the real command's.
"""

from __future__ import annotations

import sys

from tests.service.fakes import fake_engine
from ttsd.api import create_app
from ttsd.api.server import build_server, run_server
from ttsd.config import load_settings
from ttsd.logs import configure_logging
from ttsd.metrics import Metrics
from ttsd.voices.options import FakeOptions


def main(argv: list[str]) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    delays = {k: float(v) for k, v in (arg.split("=", 1) for arg in argv)}
    faults = FakeOptions(
        delay_ms_per_batch=delays.pop("delay_ms_per_batch", 0.0), delay_ms_per_item=delays.pop("delay_ms_per_item", 0.0)
    )
    if delays:
        raise SystemExit(f"unknown options {sorted(delays)}; use delay_ms_per_batch=MS, delay_ms_per_item=MS")
    fake = fake_engine(settings, Metrics(), faults=faults)
    return run_server(build_server(create_app(settings, engine=fake.engine, metrics=fake.metrics), settings))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
