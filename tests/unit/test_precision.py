"""``precision="auto"``: one rule for ttsd serve, ttsd.load_voice and the CLI (capability check injected)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ttsd.config import Settings
from ttsd.errors import InvalidControl
from ttsd.precision import PRECISIONS, auto_precision, resolve_precision


def _yes() -> bool:
    return True


def _no() -> bool:
    return False


def _never() -> bool:
    raise AssertionError("the CPU check must not run here")


@pytest.mark.parametrize(
    ("device", "mode", "check", "expected"),
    [
        ("cpu", "fast", _yes, "mixed"),
        ("cpu", "fast", _no, "fp32"),
        ("cpu", "exact", _never, "fp32"),
        ("cuda", "fast", _never, "fp16"),
        ("cuda:1", "exact", _never, "fp32"),
    ],
)
def test_auto_precision(device: str, mode: str, check: Callable[[], bool], expected: str) -> None:
    assert auto_precision(device, mode=mode, bf16_supported=check) == expected
    assert resolve_precision("auto", device, mode=mode, bf16_supported=check) == expected


def test_precision_is_checked_in_one_place() -> None:
    with pytest.raises(InvalidControl, match="CUDA"):
        resolve_precision("fp16", "cpu")
    assert resolve_precision("fp16", "cuda:0") == "fp16"
    with pytest.raises(InvalidControl, match="mode"):
        resolve_precision("fp32", "cpu", mode="turbo")
    with pytest.raises(InvalidControl, match="one of"):
        resolve_precision("int4", "cpu")


def test_mixed_is_accepted_everywhere_but_exact_mode() -> None:
    assert "mixed" in PRECISIONS
    assert Settings(precision="mixed").precision == "mixed"
    assert resolve_precision("mixed", "cpu") == "mixed"
    with pytest.raises(InvalidControl, match="fp32"):
        resolve_precision("mixed", "cpu", mode="exact")


def test_explicit_precisions_never_run_the_check() -> None:
    for precision in ("fp32", "mixed", "bf16"):
        assert resolve_precision(precision, "cpu", bf16_supported=_never) == precision


@pytest.mark.parametrize(("bf16", "expected"), [(True, "mixed"), (False, "fp32")])
def test_load_voice_resolves_auto_as_the_server_does(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: str
) -> None:
    """``ttsd.load_voice`` defaults to ``auto`` and resolves it with the server's rule (no fp32 default of its own)."""
    import ttsd
    import ttsd.precision

    monkeypatch.setattr(ttsd.precision, "cpu_has_bf16", lambda: bf16)
    assert ttsd.load_voice("fake").voice.info.precision == expected
    assert ttsd.load_voice("fake", precision="fp32").voice.info.precision == "fp32"
    with pytest.raises(InvalidControl, match="fp16 needs a CUDA device"):
        ttsd.load_voice("fake", precision="fp16")
