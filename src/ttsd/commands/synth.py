"""Synthesize text to an audio file with a locally loaded voice (no server).

Examples: ``ttsd synth "你好，世界。" -o hello.wav``; ``echo 你好 | ttsd synth - -o out.mp3``;
``ttsd synth --file book.txt -o book.flac --speed 1.2 --device cuda``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ttsd.commands.phonemes import read_text
from ttsd.precision import PRECISIONS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ttsd.voices.base import Controls, Voice

FORMATS = ("wav", "flac", "mp3", "pcm", "opus")
BATCH = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default="-", help="text to speak ('-' or omitted: standard input)")
    parser.add_argument("--file", type=Path, default=None, help="read the text from this UTF-8 file")
    parser.add_argument("-o", "--output", type=Path, default=Path("out.wav"), help="output file (out.wav)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="default: from the output suffix")
    parser.add_argument("--voice", default="baker", help="voice backend (baker)")
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
    from ttsd.errors import TTSError
    from ttsd.voices.base import Controls

    fmt = args.format or (args.output.suffix.lstrip(".").lower() or "wav")
    try:
        if fmt not in FORMATS:
            raise _usage(f"cannot tell the format from {args.output.name!r}: pass --format ({', '.join(FORMATS)})")
        controls = Controls(speed=args.speed, pitch=args.pitch, intonation=args.intonation, energy=args.energy,
                            variation=args.variation, seed=args.seed)  # fmt: skip
        text = read_text(args.text, args.file)
        start = time.perf_counter()
        voice = _load(args)
        loaded = time.perf_counter()
        audio = _synthesize(voice, text, controls, quiet=args.quiet)
        encoded = encode(audio, voice.sample_rate, AudioSpec(format=fmt))
    except TTSError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    args.output.write_bytes(encoded.data)
    if not args.quiet:
        took = time.perf_counter() - loaded
        where = f"{voice.info.device} {voice.info.precision}"
        print(
            f"{args.output}: {encoded.duration_s:.2f} s of audio, synthesized in {took:.2f} s "
            f"(load {loaded - start:.2f} s) on {where}",
            file=sys.stderr,
        )
    return 0


def _usage(message: str) -> Exception:
    from ttsd.errors import InvalidControl

    return InvalidControl(message, param="format")


def _load(args: argparse.Namespace) -> Voice:
    import torch

    from ttsd.voices.registry import load_voice

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_voice(args.voice, device=device, precision=args.precision, mode=args.mode,
                      model_dir=args.model_dir, lexicon=args.lexicon, threads=args.threads)  # fmt: skip


def _synthesize(voice: Voice, text: str, controls: Controls, *, quiet: bool) -> npt.NDArray[np.float32]:
    """All sentences, BATCH at a time, joined with each utterance's pause; a progress bar for long input."""
    import numpy as np
    from tqdm import tqdm

    from ttsd.voices.base import BatchItem

    utterances = voice.frontend(text)
    parts: list[npt.NDArray[np.float32]] = []
    with tqdm(total=len(utterances), unit="sentence", disable=quiet or len(utterances) < 4) as bar:
        for start in range(0, len(utterances), BATCH):
            chunk = utterances[start : start + BATCH]
            out = voice.run_batch([BatchItem(u, controls) for u in chunk])
            for utt, wave in zip(chunk, out.waveforms, strict=True):
                parts.append(wave)
                parts.append(np.zeros(round(utt.pause_after_s * voice.sample_rate), dtype=np.float32))
            bar.update(len(chunk))
    if parts:
        parts.pop()  # no pause after the last sentence
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
