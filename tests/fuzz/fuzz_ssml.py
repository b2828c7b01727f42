"""Coverage-guided fuzzing of the SSML parser with atheris (optional; ``pip install atheris``, the ``fuzz`` extra).

    PYTHONPATH=src python tests/fuzz/fuzz_ssml.py -atheris_runs=200000
    PYTHONPATH=src python tests/fuzz/fuzz_ssml.py -max_total_time=60

Any exception other than a ``TextError`` (InvalidMarkup, TextTooLong...) is a crash: atheris stops and writes
the input to ``crash-*``. The inputs start from a few documents that use every element (the seeds below),
wrapped in ``<speak>`` half of the time so that the fuzzer spends its time past the root element.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from ttsd.errors import TextError
    from ttsd.text.ssml import parse_ssml

SEEDS = (
    '<speak>你好<prosody rate="+20%" pitch="+2st" volume="+6dB">世界</prosody>。<break time="500ms"/></speak>',
    '<speak><p><s>第一句</s></p><say-as interpret-as="date" format="ymd">2024-05-01</say-as></speak>',
    '<speak><phoneme alphabet="py" ph="chong2 qing4">重庆</phoneme><sub alias="世卫">WHO</sub></speak>',
    '<speak><voice name="fake"><emphasis>重要</emphasis></voice><break strength="x-strong"/></speak>',
)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, len(SEEDS))
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    if choice < len(SEEDS):  # splice the fuzzed text into a seed document
        seed = SEEDS[choice]
        cut = len(text) % (len(seed) + 1)
        text = seed[:cut] + text + seed[cut:]
    with contextlib.suppress(TextError):
        parse_ssml(text, max_chars=500, voices=["fake"])


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
