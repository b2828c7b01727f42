"""The README's configuration table must name every setting, with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from ttsd.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _readme_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*`(TTSD_[A-Z0-9_]+)`\s*\|\s*`?([^|`]*)`?\s*\|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


def test_every_setting_is_documented_with_its_default() -> None:
    rows = _readme_rows()
    for name, field in Settings.model_fields.items():
        env = f"TTSD_{name.upper()}"
        assert env in rows, f"{env} is missing from the README configuration table"
        default = field.default
        if default is None:
            expected = "unset"
        elif isinstance(default, tuple):
            expected = " ".join(str(x) for x in default) if default else "unset"
        elif isinstance(default, bool):
            expected = str(default).lower()
        else:
            expected = str(default)
        assert rows[env] == expected, f"{env}: README says {rows[env]!r}, code default is {expected!r}"


def test_no_stale_settings_in_readme() -> None:
    known = {f"TTSD_{n.upper()}" for n in Settings.model_fields}
    stale = set(_readme_rows()) - known
    assert not stale, f"README documents settings that do not exist: {sorted(stale)}"
