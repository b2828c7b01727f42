"""Command line: ``ttsd serve | synth | phonemes | bench | loadtest | model convert | jobs``.

This module only parses arguments; each command lives in ``ttsd.commands.<name>`` and is imported lazily so that
``ttsd phonemes`` never imports torch and ``ttsd --help`` is instant. A bad setting (flag or TTSD_* variable)
is reported in one line on stderr, exit status 2 (like argparse's own usage errors), never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, get_args

from ttsd.config import ConfigError, Settings, load_settings

COMMANDS = {
    "serve": "ttsd.commands.serve",
    "synth": "ttsd.commands.synth",
    "phonemes": "ttsd.commands.phonemes",
    "bench": "ttsd.commands.bench",
    "loadtest": "ttsd.commands.loadtest",
    "model": "ttsd.commands.model",
    "jobs": "ttsd.commands.jobs",
}


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per Settings field; unset flags fall back to TTSD_* env vars, then defaults."""
    group = parser.add_argument_group("settings (each also readable from TTSD_<NAME>)")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description} [env TTSD_{name.upper()}]"
        annotation = field.annotation
        if annotation is bool:
            group.add_argument(
                flag, dest=f"set_{name}", action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
            continue
        choices = get_args(annotation) if str(annotation).startswith("typing.Literal") else None
        nargs: Any = "+" if name in {"bucket_edges", "cors_origins", "jobs_callback_hosts"} else None
        group.add_argument(
            flag, dest=f"set_{name}", default=None, choices=choices, nargs=nargs, metavar=name.upper(), help=help_text
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from flags given on the command line, then the environment, then defaults (:class:`ConfigError`
    with a one-line message for a bad value)."""
    overrides = {key[4:]: value for key, value in vars(args).items() if key.startswith("set_") and value is not None}
    return load_settings(**overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttsd", description="Mandarin text-to-speech service and tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name, help=module.__doc__.splitlines()[0] if module.__doc__ else None, description=module.__doc__
        )
        if getattr(module, "USES_SETTINGS", False):
            _settings_flags(p)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args._run(args)
    except ConfigError as exc:
        print(f"ttsd: error: {exc.message}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
