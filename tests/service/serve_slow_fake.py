"""``ttsd serve`` as the command runs it (build_server + run_server), but over a fake voice with options
(``python serve_slow_fake.py delay_ms_per_batch=20000``): lets the drain tests hold a model call open.

Settings come from TTSD_* variables like the real command's.
"""

from __future__ import annotations

import sys

from ttsd.api import create_app
from ttsd.api.server import build_server, run_server
from ttsd.commands.serve import configure_logging
from ttsd.config import Settings
from ttsd.engine import engine_from_settings
from ttsd.metrics import Metrics
from ttsd.serving.executors import make_executor
from ttsd.voices.fake import FakeVoice
from ttsd.voices.registry import VoiceOptions


def main(argv: list[str]) -> int:
    settings = Settings.model_validate({})
    configure_logging(settings.log_level, settings.log_format)
    extra = dict(arg.split("=", 1) for arg in argv)
    voice = FakeVoice(options=VoiceOptions(max_phonemes=settings.max_phonemes, extra=extra))
    metrics = Metrics()
    engine = engine_from_settings(settings, metrics, voice=voice, executor=make_executor("cpu", voice))
    return run_server(build_server(create_app(settings, engine, metrics=metrics), settings))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
