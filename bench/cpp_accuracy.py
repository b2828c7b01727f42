"""Polyphone accuracy on CPP (g2pM's benchmark): the marked character's reading from the full G2P.

Usage: PYTHONPATH=src python bench/cpp_accuracy.py [CPP_DIR]
CPP_DIR holds CPP's ``dev.sent`` and ``dev.lb`` (the whole dev split); without it, the 825-sentence subset in
tests/fixtures/cpp_dev_subset.tsv (every 12th dev line, with its attribution) is used.
Lines whose index % 5 == 4 are the held-out part (never looked at while choosing rules); the others the
tuning part. Reports both, and the dictionary-only baseline (pypinyin, no model).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ttsd.text.g2p import G2P
from ttsd.text.lexicon import builtin_lexicon
from ttsd.text.polyphone import PolyphoneModel

MARK = "\u2581"


def load(path: Path) -> list[tuple[int, str, str]]:
    """``(index, sentence with the character marked, label)`` from a CPP dir or our TSV subset."""
    if path.is_dir():
        sents = (path / "dev.sent").read_text(encoding="utf-8").splitlines()
        labels = (path / "dev.lb").read_text(encoding="utf-8").splitlines()
        return [(i, s, lb) for i, (s, lb) in enumerate(zip(sents, labels, strict=True))]
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            index, sent, label = line.split("\t")
            rows.append((int(index), sent, label))
    return rows


def reading(g2p: G2P, marked: str) -> str:
    at = marked.index(MARK)
    text = marked.replace(MARK, "")
    for r in g2p.read(text):
        if r.start <= at < r.end:
            return r.syllables[0]
    return "?"


def main() -> None:
    default = Path(__file__).resolve().parents[1] / "tests/fixtures/cpp_dev_subset.tsv"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    rows = load(path)
    systems = {
        "ttsd (model + rules)": G2P(builtin=builtin_lexicon(), model=PolyphoneModel.load()),
        "pypinyin only": G2P(),
    }
    for name, g2p in systems.items():
        hits = {"tune": [0, 0], "held-out": [0, 0]}
        t0 = time.perf_counter()
        for index, marked, label in rows:
            part = hits["held-out" if index % 5 == 4 else "tune"]
            part[0] += reading(g2p, marked) == label.replace("u:", "v")
            part[1] += 1
        ms = (time.perf_counter() - t0) * 1000 / max(len(rows), 1)
        figures = ", ".join(f"{k} {h / max(n, 1):.2%} ({n})" for k, (h, n) in hits.items())
        print(f"{name}: {figures}; {ms:.2f} ms per sentence")


if __name__ == "__main__":
    main()
