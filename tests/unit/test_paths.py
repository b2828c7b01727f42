"""ttsd.paths: the cache folders follow TTSD_MODEL_DIR (else the user cache dir), and ``ttsd model convert``'s
jieba step leaves a cache that later loads only read."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from ttsd.commands.model import build_jieba_cache
from ttsd.logs import configure_logging
from ttsd.paths import cache_dirs, user_cache_dir


def test_cache_dirs_live_under_the_model_dir(tmp_path: Path) -> None:
    dirs = cache_dirs(tmp_path)
    assert dirs.root == tmp_path
    assert dirs.grammar == tmp_path
    assert dirs.jieba == tmp_path / "jieba"
    assert dirs.jieba_cache == tmp_path / "jieba" / "jieba.cache"


def test_without_a_model_dir_the_user_cache_dir() -> None:
    assert cache_dirs(None).root == user_cache_dir()
    assert user_cache_dir().name == "ttsd"


def test_the_jieba_cache_is_built_once_then_only_read(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging("debug", "text", stream=stream)
    try:
        dirs = cache_dirs(tmp_path)
        cache = build_jieba_cache(dirs)
        assert cache == dirs.jieba_cache
        assert cache.stat().st_size > 1_000_000
        assert cache.stat().st_mode & 0o044 == 0o044  # readable by the service's user, not only the installer
        built = cache.stat().st_mtime_ns
        assert "Dumping model to file cache" in stream.getvalue()
        stream.truncate(0)
        build_jieba_cache(dirs)
        assert cache.stat().st_mtime_ns == built
        assert f"Loading model from cache {cache}" in stream.getvalue()
        assert sorted(p.name for p in dirs.jieba.iterdir()) == ["jieba.cache"]  # no temp files left behind
    finally:
        logging.getLogger().handlers.clear()
        logging.captureWarnings(False)
