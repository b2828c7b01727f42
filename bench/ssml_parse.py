"""SSML parse cost (ttsd.text.ssml.parse_ssml) on realistic and hostile documents, at the default 5000-character
text limit. Prints one line per document: markup size, segments, median and worst time of the repeats.

    PYTHONPATH=src python bench/ssml_parse.py [--repeats 20]

The hostile documents are the ones the limits exist for: they must be refused (or parsed) in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ttsd.errors import TextError
from ttsd.text.ssml import parse_ssml

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPH = (ROOT / "src" / "ttsd" / "data" / "bench_paragraph.txt").read_text(encoding="utf-8").strip()
MAX_CHARS = 5000


def realistic() -> str:
    """The benchmark paragraph repeated to ~4500 characters, every sentence in <s>, every third in a prosody,
    with breaks, say-as, sub and phoneme units."""
    sentences = [s + "。" for s in (PARAGRAPH * 20).split("。") if s.strip()]
    parts, length = [], 0
    for i, sentence in enumerate(sentences):
        if length + len(sentence) > 4400:
            break
        length += len(sentence) + 12
        body = f'<prosody rate="+10%" pitch="-1st">{sentence}</prosody>' if i % 3 == 0 else sentence
        parts.append(
            f'<s>{body}<say-as interpret-as="cardinal">{i}</say-as><sub alias="世卫">WHO</sub>'
            f'<phoneme alphabet="py" ph="chong2 qing4">重庆</phoneme></s><break time="{i % 7 * 50}ms"/>'
        )
    return f'<speak version="1.0" xml:lang="zh-CN"><p>{"".join(parts)}</p></speak>'


DOCUMENTS: dict[str, Callable[[], str]] = {
    "realistic ~4.5k chars": realistic,
    "plain 5000 chars": lambda: "<speak>" + "字" * 5000 + "</speak>",
    "10,000-deep nesting": lambda: "<speak>" + "<p>" * 10_000 + "</speak>",
    "billion laughs": lambda: (
        '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><speak>&b;</speak>'
    ),
    "2,600 breaks": lambda: "<speak>" + "<break time='1ms'/>" * 2600 + "</speak>",
    "50k-char attribute": lambda: f'<speak><prosody rate="{"9" * 49_900}">x</prosody></speak>',
    "markup over the limit (1 MB)": lambda: "<speak>" + "字" * 1_000_000 + "</speak>",
}


def measure(markup: str, repeats: int) -> tuple[str, list[float]]:
    times, outcome = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            outcome = f"{len(parse_ssml(markup, max_chars=MAX_CHARS))} segments"
        except TextError as exc:
            outcome = f"{type(exc).__name__}"
        times.append(time.perf_counter() - started)
    return outcome, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{'document':30} {'markup':>9} {'outcome':>16} {'median ms':>10} {'max ms':>8}")
    for name, make in DOCUMENTS.items():
        markup = make()
        outcome, times = measure(markup, args.repeats)
        median, worst = statistics.median(times) * 1000, max(times) * 1000
        print(f"{name:30} {len(markup):>9} {outcome:>16} {median:>10.2f} {worst:>8.2f}")


if __name__ == "__main__":
    main()
