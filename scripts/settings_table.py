"""Print the README's configuration table from ttsd.config.Settings (run after changing a setting)."""

from __future__ import annotations

from ttsd.config import Settings


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        return " ".join(str(x) for x in value) if value else "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def main() -> None:
    print("| variable | default | flag | meaning |")
    print("| --- | --- | --- | --- |")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        print(f"| `TTSD_{name.upper()}` | `{_default(field.default)}` | `{flag}` | {field.description} |")


if __name__ == "__main__":
    main()
