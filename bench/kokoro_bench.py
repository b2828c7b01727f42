"""Kokoro on the CPU: per voice wall time and RTF for the bench paragraph, load time, peak RSS, and the same work
through a plain onnxruntime loop (the ttsd voice should cost at most 5% more). For docs/kokoro.md.

    PYTHONPATH=src python bench/kokoro_bench.py [--voices zf_xiaobei,zm_yunjian] [--threads 2] [--repeat 1]
        [--backend onnxruntime|torch]

``--backend torch`` times the PyTorch port (fp32 on the CPU) as the ttsd voice, one piece per call as in the
plain loop, and then all pieces as one padded batch.

Needs the Kokoro assets (scripts/install.sh --kokoro-only). The paragraph is read with pypinyin, one token per
Han character (the shared front end is wired in by the engine, not here); the same ids and style rows feed both
loops, so the difference is ttsd's own overhead (style blending, duration bookkeeping, lock).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPH = ROOT / "src" / "ttsd" / "data" / "bench_paragraph.txt"


def _sentences(text: str) -> list[object]:
    from pypinyin import Style, lazy_pinyin

    from ttsd.text.plan import plan
    from ttsd.text.types import Sentence, Token

    out: list[object] = []
    for unit in plan(text):  # the front end's sentence units (string work only: no normalizer, no G2P)
        piece, pause = "".join(part.text for part in unit.parts).strip(), unit.pause_after_s
        han = [c for c in piece if "\u4e00" <= c <= "\u9fff"]
        readings = iter(lazy_pinyin(han, style=Style.TONE3, neutral_tone_with_five=True))
        tokens = tuple(
            Token(c, (next(readings),), "dictionary") if "\u4e00" <= c <= "\u9fff" else Token(c, (), "silent")
            for c in piece
        )
        out.append(Sentence(tokens, pause_after_s=pause))
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voices", default="zf_xiaobei,zm_yunjian")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "torch"))
    args = parser.parse_args()

    import onnxruntime as ort

    from ttsd.controls import Controls
    from ttsd.voices.base import BatchItem
    from ttsd.voices.kokoro import assets
    from ttsd.voices.kokoro.voice import load
    from ttsd.voices.options import KokoroOptions, VoiceOptions

    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    voice = load(VoiceOptions(threads=args.threads, kokoro=KokoroOptions(backend=args.backend)))
    load_s = time.perf_counter() - start
    print(f"load: {load_s:.2f} s (cache prepared), peak RSS after load {_peak_rss_mb():.0f} MB "
          f"(before {rss_before:.0f} MB), threads {args.threads}, onnxruntime {ort.__version__}")  # fmt: skip
    utterances = [voice.encode(s) for s in _sentences(PARAGRAPH.read_text(encoding="utf-8"))]  # type: ignore[arg-type]
    print(f"paragraph: {len(utterances)} pieces, {sum(len(u.ids) for u in utterances)} ids")
    voice.warmup()

    prepared = assets.prepare()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    plain = ort.InferenceSession(str(prepared.timed_model_path), options, providers=["CPUExecutionProvider"])

    for name in args.voices.split(","):
        table = np.fromfile(assets.voice_path(prepared.voices_dir, name), dtype="<f4").reshape(510, 256)
        for rep in range(args.repeat):
            # Interleaved item by item, so load from other processes hits both loops alike.
            ttsd_s = plain_s = 0.0
            samples = plain_samples = 0
            for u in utterances:
                start = time.perf_counter()
                out = voice.run_batch([BatchItem(u, Controls(speaker=name))])
                ttsd_s += time.perf_counter() - start
                samples += len(out.waveforms[0])
                feeds = {"tokens": np.asarray([u.ids], dtype=np.int64), "style": table[len(u.ids) - 2][None, :],
                         "speed": np.asarray([1.0], dtype=np.float32)}  # fmt: skip
                start = time.perf_counter()
                audio, _ = plain.run(None, feeds)
                plain_s += time.perf_counter() - start
                plain_samples += len(audio)
            audio_s = samples / voice.sample_rate
            print(f"{name} #{rep}: audio {audio_s:.2f} s, ttsd {ttsd_s:.2f} s (RTF {ttsd_s / audio_s:.3f}), "
                  f"plain onnxruntime {plain_s:.2f} s (RTF {plain_s / audio_s:.3f}), "
                  f"ttsd/plain {ttsd_s / plain_s:.3f}, same length {samples == plain_samples}")  # fmt: skip
            if voice.info.batchable:
                start = time.perf_counter()
                out = voice.run_batch([BatchItem(u, Controls(speaker=name)) for u in utterances])
                took = time.perf_counter() - start
                batch_audio_s = sum(len(w) for w in out.waveforms) / voice.sample_rate
                print(f"{name} #{rep}: one padded batch of {len(utterances)}: {took:.2f} s for {batch_audio_s:.2f} s "
                      f"(RTF {took / batch_audio_s:.3f})")  # fmt: skip
    print(f"peak RSS: {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
