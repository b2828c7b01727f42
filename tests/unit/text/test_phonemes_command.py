"""``ttsd phonemes --explain``: a table per token with its reading and source; the plain output still works."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ttsd.commands import phonemes


def _args(text: str, **extra: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    phonemes.add_arguments(parser)
    args = parser.parse_args([text])
    for key, value in extra.items():
        setattr(args, key, value)
    return args


def test_explain_prints_a_table_with_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert phonemes.run(_args("您的验证码是382915。我得走了。", explain=True)) == 0
    out = capsys.readouterr().out
    assert "382915" in out
    assert "三八二九一五" in out
    assert "normalized" in out
    assert "dei3" in out
    assert "rule" in out


def test_explain_shows_the_class_and_source_of_latin_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert phonemes.run(_args("她买了新的iPhone15，CEO说T恤不错。", explain=True)) == 0
    out = capsys.readouterr().out
    assert "latin: word: letters of a word; said: English /ˈIfˌOn/ (misaki lexicon)" in out
    assert "latin: acronym: all capitals; said: Mandarin letter names" in out
    assert "latin: chinese: table" in out
    assert "iPhone15         mixed: letters and digits" in out


def test_explain_reports_unpronounceable_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert phonemes.run(_args("😀😀", explain=True)) == 1
    assert "nothing pronounceable" in capsys.readouterr().err


def test_plain_output_unchanged(
    capsys: pytest.CaptureFixture[str], symbols_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ttsd.voices.baker.assets as assets

    monkeypatch.setattr(assets, "symbols_path", lambda model_dir=None: symbols_path)
    assert phonemes.run(_args("你好。")) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "[0] 你好。"
    assert out.splitlines()[1].strip() == "sil n i3 #0 h ao3 sil"
