"""Synthesize text to an audio file with a locally loaded voice (no server).

Examples: ``ttsd synth "你好，世界。" -o hello.wav``; ``echo 你好 | ttsd synth - -o out.mp3``;
``ttsd synth --file book.txt -o book.flac --speed 1.2 --device cuda``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ttsd.commands.phonemes import read_text
from ttsd.precision import PRECISIONS

if TYPE_CHECKING:
    from ttsd.controls import Controls
    from ttsd.pipeline.local import Speech, Synthesizer
    from ttsd.subtitles import Timestamp

FORMATS = ("wav", "flac", "mp3", "pcm", "opus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default="-", help="text to speak ('-' or omitted: standard input)")
    parser.add_argument("--file", type=Path, default=None, help="read the text from this UTF-8 file")
    parser.add_argument("-o", "--output", type=Path, default=Path("out.wav"), help="output file (out.wav)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="default: from the output suffix")
    parser.add_argument("--voice", default="baker", help="voice family (baker, kokoro) or speaker (zm_yunjian)")
    parser.add_argument(
        "--ssml", action="store_true", help="the text is SSML (docs/ssml.md; text starting with <speak> is, anyway)"
    )
    parser.add_argument("--subtitles", type=Path, default=None, help="also write subtitles (.srt or .vtt)")
    group = parser.add_argument_group("controls")
    group.add_argument("--speed", type=float, default=1.0, help="speaking rate, 0.25-4 (1.25 = 25%% faster)")
    group.add_argument("--pitch", type=float, default=0.0, help="pitch shift in speaker std devs, -3..3")
    group.add_argument("--intonation", type=float, default=1.0, help="pitch contour scale, 0..3 (0 = flat)")
    group.add_argument("--energy", type=float, default=1.0, help="energy scale, 0.25-4")
    group.add_argument("--variation", action="store_true", help="sample the model's prosody dropout")
    group.add_argument("--seed", type=int, default=None, help="seed for --variation (reproducible output)")
    model = parser.add_argument_group("model")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    model.add_argument("--precision", default="auto", choices=PRECISIONS)
    model.add_argument("--mode", default="fast", choices=("fast", "exact"))
    model.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    model.add_argument("--model-dir", type=Path, default=None, help="converted-weights cache dir")
    model.add_argument("--lexicon", type=Path, default=None, help="user lexicon (word pin1 yin1 per line)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args: argparse.Namespace) -> int:
    from ttsd.audio import AudioSpec, encode
    from ttsd.controls import Controls
    from ttsd.errors import TTSError

    fmt = args.format or (args.output.suffix.lstrip(".").lower() or "wav")
    try:
        if fmt not in FORMATS:
            raise _usage(f"cannot tell the format from {args.output.name!r}: pass --format ({', '.join(FORMATS)})")
        controls = Controls(speed=args.speed, pitch=args.pitch, intonation=args.intonation, energy=args.energy,
                            variation=args.variation, seed=args.seed)  # fmt: skip
        text = read_text(args.text, args.file)
        start = time.perf_counter()
        synthesizer = _load(args)
        loaded = time.perf_counter()
        speech = _synthesize(synthesizer, text, controls, args=args)
        encoded = encode(speech.audio, speech.sample_rate, AudioSpec(format=fmt))
        if args.subtitles is not None:
            _write_subtitles(args.subtitles, speech.timestamps)
    except TTSError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    args.output.write_bytes(encoded.data)
    if not args.quiet:
        took = time.perf_counter() - loaded
        info = synthesizer.voice.info
        print(
            f"{args.output}: {encoded.duration_s:.2f} s of audio, synthesized in {took:.2f} s "
            f"(load {loaded - start:.2f} s) on {info.device} {info.precision}",
            file=sys.stderr,
        )
    return 0


def _usage(message: str) -> Exception:
    from ttsd.errors import InvalidControl

    return InvalidControl(message, param="format")


def _load(args: argparse.Namespace) -> Synthesizer:
    """The voice's family (``--voice`` may be a speaker such as zm_yunjian) loaded with the front end."""
    from ttsd.pipeline.local import load_voice
    from ttsd.voices.registry import family_of

    return load_voice(family_of(args.voice), device=args.device, precision=args.precision, mode=args.mode,
                      model_dir=args.model_dir, lexicon=args.lexicon, threads=args.threads)  # fmt: skip


def _synthesize(synthesizer: Synthesizer, text: str, controls: Controls, *, args: argparse.Namespace) -> Speech:
    """All sentences with a progress bar for long input: the server's plan, per-sentence step and joining
    (``ttsd.pipeline.local``), so the same SSML gives the same audio as from the server."""
    from tqdm import tqdm

    with tqdm(unit="sentence", disable=args.quiet) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done)

        return synthesizer.synthesize(
            text, controls, input_type="ssml" if args.ssml else "auto", voice=args.voice, progress=progress
        )


def _write_subtitles(path: Path, timestamps: Sequence[Timestamp]) -> None:
    from ttsd.errors import InvalidControl
    from ttsd.subtitles import build_cues, to_srt, to_vtt

    suffix = path.suffix.lower()
    if suffix not in (".srt", ".vtt"):
        raise InvalidControl(f"subtitles must be a .srt or .vtt file, got {path.name!r}", param="subtitles")
    cues = build_cues(list(timestamps))
    path.write_text(to_srt(cues) if suffix == ".srt" else to_vtt(cues), encoding="utf-8")
