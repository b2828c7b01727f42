"""Speaker specs and style vectors: plain voices, blends, row choice by length, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ttsd.errors import InvalidControl
from ttsd.voices.kokoro.styles import ROWS, STYLE_DIM, StyleBank, parse_speaker


def _bank() -> StyleBank:
    rows = np.arange(ROWS, dtype=np.float32)[:, None]
    return StyleBank(
        tables={
            "zf_xiaobei": np.repeat(rows, STYLE_DIM, axis=1),
            "zf_xiaoyi": np.full((ROWS, STYLE_DIM), 1000.0, dtype=np.float32),
        }
    )


def test_a_plain_voice_is_a_blend_of_one() -> None:
    blend = parse_speaker("zm_yunjian")
    assert blend.parts == (("zm_yunjian", 1.0),)
    assert blend.key == "zm_yunjian"


def test_blend_weights_are_normalised() -> None:
    blend = parse_speaker(" zf_xiaobei:3 , zf_xiaoyi:1 ")
    assert blend.parts == (("zf_xiaobei", 0.75), ("zf_xiaoyi", 0.25))
    assert blend.key == "zf_xiaobei:0.75,zf_xiaoyi:0.25"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("zf_xiaobei,", "empty blend item"),
        ("af_heart", "unknown Kokoro speaker 'af_heart'; known: zf_xiaobei"),
        ("zf_xiaobei:x", "is not a number"),
        ("zf_xiaobei:-1,zf_xiaoyi:1", "finite number >= 0"),
        ("zf_xiaobei:inf", "finite number >= 0"),
        ("zf_xiaobei:0,zf_xiaoyi:0", "sum to zero"),
        ("zf_xiaobei:1e308,zm_yunjian:1e308", "more than a float can hold"),  # the sum overflows to inf
        ("zf_xiaobei:nan", "finite number >= 0"),
        ("zf_xiaobei:1,zf_xiaobei:2", "appears twice"),
    ],
)
def test_bad_specs_are_invalid_controls_naming_speaker(spec: str, message: str) -> None:
    with pytest.raises(InvalidControl, match=message) as err:
        parse_speaker(spec)
    assert err.value.param == "speaker"


def test_the_row_is_picked_by_phoneme_count_and_clamped() -> None:
    bank = _bank()
    plain = parse_speaker("zf_xiaobei", bank.names)
    assert bank.style(plain, 7).shape == (1, STYLE_DIM)
    assert float(bank.style(plain, 7)[0, 0]) == 7.0
    assert float(bank.style(plain, 5000)[0, 0]) == ROWS - 1


def test_a_blend_is_the_weighted_sum_of_the_tables() -> None:
    bank = _bank()
    style = bank.style(parse_speaker("zf_xiaobei:0.6,zf_xiaoyi:0.4", bank.names), 10)
    np.testing.assert_allclose(style, np.full((1, STYLE_DIM), 0.6 * 10 + 0.4 * 1000), rtol=1e-6)


def test_only_loaded_voices_are_known_to_a_bank() -> None:
    with pytest.raises(InvalidControl, match="unknown Kokoro speaker 'zm_yunxi'"):
        parse_speaker("zm_yunxi", _bank().names)


def test_tables_are_read_from_kokoro_js_files(tmp_path: Path) -> None:
    data = np.random.default_rng(0).standard_normal((ROWS, 1, STYLE_DIM)).astype("<f4")
    data.tofile(tmp_path / "zf_xiaobei.bin")
    bank = StyleBank.from_files({"zf_xiaobei": tmp_path / "zf_xiaobei.bin"})
    np.testing.assert_array_equal(bank.style(parse_speaker("zf_xiaobei", bank.names), 3)[0], data[3, 0])
    (tmp_path / "short.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match="holds 4 floats"):
        StyleBank.from_files({"zf_xiaoyi": tmp_path / "short.bin"})
