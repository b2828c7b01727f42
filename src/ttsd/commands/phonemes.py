"""Show how the Baker front end reads a text: normalized text and phonemes per sentence (no model is loaded).

Example: ttsd phonemes "2024年3月5日，气温-3℃。"  (``-`` or no text reads standard input)
         ttsd phonemes --explain "您的验证码是382915，5分钟内有效。"  (per token: reading and its source)
         ttsd phonemes --explain "她买了一台新的iPhone"  (Latin runs: class, what decided it, English phonemes)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttsd.config import DEFAULT_MAX_PHONEMES

if TYPE_CHECKING:
    from ttsd.text.frontend import TextFrontend


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default="-", help="text to read ('-' or omitted: standard input)")
    parser.add_argument("--file", type=Path, default=None, help="read the text from this UTF-8 file")
    parser.add_argument("--lexicon", type=Path, default=None, help="user lexicon (word pin1 yin1 per line)")
    parser.add_argument(
        "--max-phonemes",
        type=int,
        default=DEFAULT_MAX_PHONEMES,
        help="ids per utterance, at most (as TTSD_MAX_PHONEMES)",
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="converted-weights cache dir")
    parser.add_argument("--ids", action="store_true", help="also print the symbol ids")
    parser.add_argument("--json", action="store_true", help="one JSON object per utterance")
    parser.add_argument(
        "--explain", action="store_true", help="per token: what was read, its pinyin and where the reading came from"
    )


def read_text(text: str, file: Path | None) -> str:
    """The input text: ``file`` if given, standard input for ``-``, else ``text`` itself."""
    if file is not None:
        return file.read_text(encoding="utf-8")
    if text == "-":
        return sys.stdin.read()
    return text


def run(args: argparse.Namespace) -> int:
    from ttsd.errors import TTSError
    from ttsd.logs import configure_logging
    from ttsd.paths import cache_dirs
    from ttsd.text.frontend import TextFrontend

    configure_logging("warning", "text")  # the libraries' chatter (jieba's "Building prefix dict...") stays off
    try:
        frontend = TextFrontend(lexicon=args.lexicon, cache_dir=cache_dirs(args.model_dir).root)
        text = read_text(args.text, args.file)
        if args.explain:
            return _explain(frontend, text)
        records = _baker_records(frontend, text, args)
    except TTSError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    for i, record in enumerate(records):
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            continue
        print(f"[{i}] {record['text']}")
        print(f"    {record['phonemes']}")
        if args.ids:
            print(f"    {' '.join(map(str, record['ids']))}")
    return 0


def _baker_records(frontend: TextFrontend, text: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """What the Baker voice reads: per sentence its text, phones (and ids), and the pause after it."""
    from ttsd.text.symbols import SymbolTable
    from ttsd.voices.baker.assets import symbols_path
    from ttsd.voices.baker.phones import baker_budget, sentence_phones

    symbols = SymbolTable.load(symbols_path(model_dir=args.model_dir)) if args.ids else None
    records: list[dict[str, Any]] = []
    for sentence in frontend.sentences(text, budget=baker_budget(args.max_phonemes)):
        phones, _ = sentence_phones(sentence)
        if not phones:
            continue
        record: dict[str, Any] = {
            "text": sentence.text.strip(),
            "phonemes": " ".join(phones),
            "pause_after_s": sentence.pause_after_s,
        }
        if symbols is not None:
            record["ids"] = list(symbols.to_ids(phones))
        records.append(record)
    return records


def _explain(frontend: TextFrontend, text: str) -> int:
    from ttsd.text.explain import format_table

    rows = frontend.explain(text)
    print(format_table(rows, english=_english_reader() if any(r.english for r in rows) else None))
    runs = frontend.latin_runs(text)
    if runs:
        print("\nLatin runs (class: what decided it):")
        for run, kind, reason in runs:
            print(f"  {run:<16} {kind}: {reason}")
    return 0


def _english_reader() -> Callable[[str], str] | None:
    """The Kokoro voice's English G2P as ``word -> "/phonemes/ (source)"``; ``None`` (with a note) if absent."""
    from ttsd.errors import AssetError
    from ttsd.voices.kokoro.english import EnglishG2P

    try:
        EnglishG2P.check()
    except AssetError as exc:
        print(f"note: English phonemes not shown: {exc.message}", file=sys.stderr)
        return None
    g2p = EnglishG2P()

    def read(word: str) -> str:
        found = g2p.read(word)
        return f"/{found.phonemes}/ ({found.source})"

    return read
