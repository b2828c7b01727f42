"""Voice registry: family name -> loader import string, imported only when that family is asked for.

Concrete voices are reached only through here, so ``import ttsd`` never imports torch or optional backends.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from ttsd.errors import UnknownVoice
from ttsd.voices.base import Voice
from ttsd.voices.options import VoiceOptions

# family -> "module:function"; the function takes VoiceOptions and returns a loaded Voice.
LOADERS: dict[str, str] = {
    "baker": "ttsd.voices.baker.voice:load",
    "fake": "ttsd.voices.fake:load",
    "kokoro": "ttsd.voices.kokoro.voice:load",
    "sambert": "ttsd.voices.sambert.voice:load",
}
# Families that speak with the real Mandarin front end (the fake voice reads characters as themselves).
NEEDS_TEXT_FRONTEND = frozenset({"baker", "kokoro", "sambert"})


def available() -> list[str]:
    """Names of the registered voice families (installed or not)."""
    return sorted(LOADERS)


def resolve(name: str) -> Callable[[VoiceOptions], Voice]:
    """The loader function for ``name``; raises :class:`UnknownVoice` for an unregistered name."""
    try:
        target = LOADERS[name]
    except KeyError:
        raise UnknownVoice(f"unknown voice {name!r}; available: {', '.join(available())}") from None
    module_name, _, func_name = target.partition(":")
    module = importlib.import_module(module_name)
    return cast(Callable[[VoiceOptions], Voice], getattr(module, func_name))


def load_family(name: str, options: VoiceOptions) -> Voice:
    """Load one voice family."""
    return resolve(name)(options)


# family -> "module:function" answering "are this family's assets installed?" cheaply (no model load).
INSTALLED_CHECKS: dict[str, str] = {
    "baker": "ttsd.voices.baker.assets:installed",
    "kokoro": "ttsd.voices.kokoro.assets:installed",
}
# speaker name -> family, for voice names that are not family names.
SPEAKER_FAMILIES: dict[str, str] = {
    name: "kokoro"
    for name in (
        "zf_xiaobei",
        "zf_xiaoni",
        "zf_xiaoxiao",
        "zf_xiaoyi",
        "zm_yunjian",
        "zm_yunxi",
        "zm_yunyang",
        "zm_yunxia",
    )
}


def installed(family: str, options: VoiceOptions) -> bool:
    """Whether ``family`` could load here with ``options`` (its packages and assets are present)."""
    target = INSTALLED_CHECKS.get(family)
    if target is None:
        return family in LOADERS and family not in NEEDS_TEXT_FRONTEND
    module_name, _, func_name = target.partition(":")
    try:
        check = getattr(importlib.import_module(module_name), func_name)
    except ImportError:
        return False
    return bool(check(options))


def family_of(name: str) -> str:
    """The family a voice name belongs to: a family name itself, or a known speaker's family."""
    if name in LOADERS:
        return name
    base = name.split(",")[0].split(":")[0].strip()
    if base in SPEAKER_FAMILIES:
        return SPEAKER_FAMILIES[base]
    raise UnknownVoice(f"unknown voice {name!r}; families: {', '.join(available())}")
