"""Show how the Baker front end reads a text: normalized text and phonemes per sentence (no model is loaded).

Example: ttsd phonemes "2024年3月5日，气温-3℃。"  (``-`` or no text reads standard input)
         ttsd phonemes --explain "您的验证码是382915，5分钟内有效。"  (per token: reading and its source)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default="-", help="text to read ('-' or omitted: standard input)")
    parser.add_argument("--file", type=Path, default=None, help="read the text from this UTF-8 file")
    parser.add_argument("--lexicon", type=Path, default=None, help="user lexicon (word pin1 yin1 per line)")
    parser.add_argument(
        "--max-phonemes", type=int, default=96, help="ids per utterance, at most (as TTSD_MAX_PHONEMES)"
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
    from ttsd.text.frontend import TextFrontend
    from ttsd.voices.baker.assets import symbols_path

    if args.explain:
        return _explain(read_text(args.text, args.file), args.lexicon)
    try:
        frontend = TextFrontend(
            symbols_path=symbols_path(model_dir=args.model_dir),
            lexicon=args.lexicon,
            max_phonemes=args.max_phonemes,
        )
        utterances = frontend.process(read_text(args.text, args.file))
    except TTSError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    for i, utt in enumerate(utterances):
        if args.json:
            record = {"text": utt.text, "phonemes": " ".join(utt.phonemes), "pause_after_s": utt.pause_after_s}
            if args.ids:
                record["ids"] = list(utt.ids)
            print(json.dumps(record, ensure_ascii=False))
            continue
        print(f"[{i}] {utt.text}")
        print(f"    {' '.join(utt.phonemes)}")
        if args.ids:
            print(f"    {' '.join(map(str, utt.ids))}")
    return 0


def _explain(text: str, lexicon: Path | None) -> int:
    from ttsd.errors import TTSError
    from ttsd.text.explain import format_table
    from ttsd.text.frontend import TextFrontend

    try:
        rows = TextFrontend(lexicon=lexicon).explain(text)
    except TTSError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(format_table(rows))
    return 0
