"""The batching settings reach the policy: ``TTSD_OVERTAKE_S_PER_FRAME`` (default 1 ms per frame) becomes the
lanes' :class:`~ttsd.config.BatchConfig`, 0 means oldest first, and a negative value is one clear error."""

from __future__ import annotations

import os

import pytest

from ttsd.config import BatchConfig, ConfigError, load_settings
from ttsd.serving.policy import PendingItem, priority_key


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("TTSD_")]:
        monkeypatch.delenv(name)


def test_the_default_is_the_batch_configs_default() -> None:
    assert load_settings().batch_config().overtake_s_per_frame == BatchConfig().overtake_s_per_frame == 0.001


def test_zero_from_the_environment_gives_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSD_OVERTAKE_S_PER_FRAME", "0")
    cfg = load_settings().batch_config()
    older_long = PendingItem(seq=1, length=90, frames=500, enqueued_at=10.0, deadline=99.0)
    newer_short = PendingItem(seq=2, length=5, frames=20, enqueued_at=10.1, deadline=99.0)
    assert priority_key(older_long, cfg) < priority_key(newer_short, cfg)
    monkeypatch.setenv("TTSD_OVERTAKE_S_PER_FRAME", "0.01")
    cfg = load_settings().batch_config()
    assert priority_key(newer_short, cfg) < priority_key(older_long, cfg)  # 5 s of head start for 500 frames


def test_a_negative_value_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSD_OVERTAKE_S_PER_FRAME", "-1")
    with pytest.raises(ConfigError, match="TTSD_OVERTAKE_S_PER_FRAME"):
        load_settings()
