"""Benchmark a voice: load time, paragraph latency, batched throughput, peak memory, bf16-vs-fp32 SNR.

Each precision runs in its own fresh process (so peak RSS and load time are that configuration's own), after
one process has filled the converted-weights cache. Per precision it reports:

* ``load``: ``ttsd.load_voice(...)`` from the warm cache (seconds).
* ``paragraph``: the packaged ~108-character paragraph end to end (text in, waveform out): median of
  ``--repeats`` warm runs, with the front end / acoustic / vocoder split of one more run.
* ``batch N``: 16 short sentences, sorted by length and run N at a time through ``run_batch``.
* peak RSS of the process (``ru_maxrss``), audio seconds and RTF (wall / audio).

The SNR of every precision's paragraph audio against fp32's is printed at the end (a CPU default other than
fp32, i.e. ``mixed``, must stay >= 25 dB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttsd.pipeline.local import SYNTH_BATCH
from ttsd.precision import PRECISIONS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ttsd.pipeline.local import Synthesizer
    from ttsd.voices.base import Utterance

SENTENCES = (
    "今天天气很好。",
    "请把门关上。",
    "我们明天早上八点出发。",
    "这本书我已经读了三遍。",
    "会议改到下午三点半举行。",
    "他每天坚持跑步五公里。",
    "欢迎收听今天的新闻节目。",
    "请您在提示音后留言。",
    "这家餐厅的菜味道不错。",
    "火车即将进站，请注意安全。",
    "语音合成技术发展得很快。",
    "周末我们一起去爬山吧。",
    "感谢您的耐心等待。",
    "系统将在五分钟后自动重启。",
    "孩子们在公园里放风筝。",
    "如果有任何问题，请随时联系我们。",
)
DEFAULT_BATCH_SIZES = (1, 4, 16)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--voice", default="baker", help="voice to load (default: baker)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument(
        "--precision",
        action="append",
        choices=PRECISIONS,
        help="repeatable; default: fp32, mixed and bf16 on CPU, fp32 and fp16 on CUDA (auto: the default)",
    )
    parser.add_argument("--mode", default="fast", choices=("fast", "exact"), help="voice mode (default: fast)")
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_BATCH_SIZES),
        metavar="N",
        help="batch sizes for the short-sentence run (default: 1 4 16)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="warm runs per measurement; the median counts")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: all cores)")
    parser.add_argument("--model-dir", default=None, help="converted-weights cache (default: user cache dir)")
    parser.add_argument("--text", type=Path, default=None, help="paragraph file (default: the packaged one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")


def run(args: argparse.Namespace) -> int:
    precisions = args.precision or (["fp32", "mixed", "bf16"] if args.device == "cpu" else ["fp32", "fp16"])
    text = args.text.read_text(encoding="utf-8") if args.text else paragraph_text()
    with tempfile.TemporaryDirectory(prefix="ttsd-bench-") as tmp:
        base = _spec(args, text=text.strip(), precision=precisions[0], wave_path=None)
        _spawn({**base, "load_only": True})  # fills the converted-weights cache
        results, waves = [], {}
        for precision in precisions:
            waves[precision] = Path(tmp) / f"{precision}.npy"
            spec = _spec(args, text=text.strip(), precision=precision, wave_path=str(waves[precision]))
            results.append(_spawn(spec))
        snr = _snr_table(waves)
    report = {"machine": machine_info(), "results": results, "snr_db_vs_fp32": snr}
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def paragraph_text() -> str:
    """The packaged benchmark paragraph (``ttsd/data/bench_paragraph.txt``)."""
    return resources.files("ttsd").joinpath("data/bench_paragraph.txt").read_text(encoding="utf-8").strip()


def _spec(args: argparse.Namespace, *, text: str, precision: str, wave_path: str | None) -> dict[str, Any]:
    return {
        "voice": args.voice,
        "device": args.device,
        "precision": precision,
        "mode": args.mode,
        "threads": args.threads,
        "model_dir": args.model_dir,
        "batch_sizes": list(args.batch_sizes),
        "repeats": max(1, args.repeats),
        "text": text,
        "wave_path": wave_path,
        "load_only": False,
    }


def _spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in a fresh interpreter; its last stdout line is the JSON result."""
    cmd = [sys.executable, "-m", "ttsd.commands.bench", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ.copy())
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"benchmark worker failed ({spec['precision']}): exit {proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- worker (runs in the child process) ----------------------------------------------------------------------


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from ttsd.pipeline.local import load_voice

    started = time.perf_counter()
    voice = load_voice(
        spec["voice"],
        device=spec["device"],
        precision=spec["precision"],
        mode=spec["mode"],
        model_dir=spec["model_dir"],
        threads=spec["threads"],
    )
    load_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "voice": spec["voice"],
        "device": spec["device"],
        "precision": spec["precision"],
        "mode": spec["mode"],
        "threads": _torch_threads(),
        "load_s": load_s,
        "resolved_precision": voice.voice.info.precision,
    }
    if spec["load_only"]:
        return result
    voice.frontend.warmup()
    voice.voice.warmup()
    wave, sample_rate = synthesize_text(voice, spec["text"])
    result["paragraph"] = _paragraph(voice, spec, len(wave) / sample_rate)
    # The paragraph's own peak, before the batch runs add their oneDNN primitives and buffers.
    result["paragraph_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["batches"] = [_batch_run(voice, size, spec["repeats"]) for size in spec["batch_sizes"]]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if spec["wave_path"]:
        np.save(spec["wave_path"], wave)
    return result


def synthesize_text(voice: Synthesizer, text: str) -> tuple[npt.NDArray[np.float32], int]:
    """Text -> (waveform, sample rate), as ``ttsd synth`` and the server join it."""
    speech = voice.synthesize(text)
    return speech.audio, speech.sample_rate


def _split(voice: Synthesizer, text: str) -> dict[str, float]:
    """Where the paragraph's time goes: front end, acoustic model, vocoder."""
    from ttsd.voices.base import BatchItem

    t0 = time.perf_counter()
    utterances = voice.utterances(text)
    split = {"frontend_s": time.perf_counter() - t0, "acoustic_s": 0.0, "vocoder_s": 0.0}
    for start in range(0, len(utterances), SYNTH_BATCH):
        out = voice.voice.run_batch([BatchItem(utterance=u) for u in utterances[start : start + SYNTH_BATCH]])
        split["acoustic_s"] += out.acoustic_seconds
        split["vocoder_s"] += out.vocoder_seconds
    return split


def _paragraph(voice: Synthesizer, spec: dict[str, Any], audio_s: float) -> dict[str, Any]:
    text = spec["text"]
    times = _timed(lambda: synthesize_text(voice, text), spec["repeats"])
    split = _split(voice, text)
    wall = statistics.median(times)
    return {
        "chars": len(text),
        "wall_s": wall,
        "min_s": min(times),
        "audio_s": audio_s,
        "rtf": wall / audio_s,
        "sentences": len(voice.utterances(text)),
        **split,
    }


def _batch_run(voice: Synthesizer, size: int, repeats: int) -> dict[str, Any]:
    """The 16 sentences, sorted by length (as the batcher's buckets would group them), ``size`` at a time."""
    import numpy as np

    from ttsd.voices.base import BatchItem

    utterances: list[Utterance] = sorted((u for s in SENTENCES for u in voice.utterances(s)), key=lambda u: len(u.ids))
    batches = [[BatchItem(utterance=u) for u in utterances[i : i + size]] for i in range(0, len(utterances), size)]
    calls: list[float] = []
    audio_s = 0.0

    def once() -> None:
        nonlocal audio_s
        audio_s = 0.0
        for batch in batches:
            t0 = time.perf_counter()
            out = voice.voice.run_batch(batch)
            calls.append(time.perf_counter() - t0)
            audio_s += sum(len(w) for w in out.waveforms) / voice.sample_rate

    once()  # warm-up for these batch shapes
    calls.clear()
    times = _timed(once, repeats)
    wall = statistics.median(times)
    return {
        "batch_size": size,
        "items": len(utterances),
        "wall_s": wall,
        "audio_s": audio_s,
        "rtf": wall / audio_s,
        "call_p50_s": float(np.percentile(calls, 50)),
        "call_p95_s": float(np.percentile(calls, 95)),
    }


def _timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _torch_threads() -> int | None:
    if "torch" not in sys.modules:
        return None
    threads: int = sys.modules["torch"].get_num_threads()
    return threads


# -- report (parent process) ---------------------------------------------------------------------------------


def _snr_table(paths: dict[str, Path]) -> dict[str, float]:
    """SNR (dB) of each precision's paragraph audio against fp32's (a length mismatch counts as noise)."""
    import numpy as np

    if "fp32" not in paths:
        return {}
    ref = np.load(paths["fp32"]).astype(np.float64)
    snr = {}
    for precision, path in paths.items():
        wave = np.load(path)
        if precision == "fp32":
            continue
        n = min(len(ref), len(wave))
        noise = float(np.sum((ref[:n] - wave[:n]) ** 2)) + float(abs(len(ref) - len(wave)))
        snr[precision] = float(10 * np.log10(float(np.sum(ref[:n] ** 2)) / max(noise, 1e-30)))
    return snr


def machine_info() -> dict[str, Any]:
    """CPU model, core count, Python and torch versions (for the benchmark record)."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


def format_report(report: dict[str, Any]) -> str:
    """The human-readable table of a benchmark report."""
    m = report["machine"]
    lines = [
        f"machine: {m.get('cpu')} ({m.get('cores')} cores), python {m.get('python')}, torch {m.get('torch')}",
        f"{'precision':<9} {'workload':<14} {'wall s':>8} {'audio s':>8} {'RTF':>7} "
        f"{'load s':>7} {'peak RSS MB':>11} {'threads':>7}   (batch rows: latency of one run_batch call;",
        f"{'':<74}paragraph row: peak RSS after the paragraph; other rows: after all runs)",
    ]
    for r in report["results"]:
        p = r["paragraph"]
        head = f"{r['precision']:<9}"
        tail = f"{r['load_s']:>7.2f} {r['paragraph_peak_rss_mb']:>11.0f} {r['threads'] or '-':>7}"
        lines.append(f"{head} {'paragraph':<14} {p['wall_s']:>8.3f} {p['audio_s']:>8.2f} {p['rtf']:>7.4f} {tail}")
        for b in r["batches"]:
            work = f"batch {b['batch_size']} x{b['items']}"
            lines.append(
                f"{head} {work:<14} {b['wall_s']:>8.3f} {b['audio_s']:>8.2f} {b['rtf']:>7.4f}"
                f"{'':>8} {r['peak_rss_mb']:>11.0f}   p50 {b['call_p50_s']:.3f} s, p95 {b['call_p95_s']:.3f} s"
            )
        lines.append(
            f"{head} paragraph split: front end {p['frontend_s']:.3f} s, acoustic {p['acoustic_s']:.3f} s, "
            f"vocoder {p['vocoder_s']:.3f} s ({p['sentences']} sentences, {p['chars']} chars)"
        )
    for precision, snr in report["snr_db_vs_fp32"].items():
        lines.append(f"SNR of {precision} paragraph audio vs fp32: {snr:.1f} dB")
    return "\n".join(lines)


if __name__ == "__main__":  # the worker: python -m ttsd.commands.bench '<spec json>'
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
