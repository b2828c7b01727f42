"""ttsd: a Mandarin text-to-speech service.

Public names: :func:`load_voice`, :class:`Voice`, :data:`__version__`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ttsd.pipeline.local import load_voice
from ttsd.voices.base import Voice

try:
    __version__ = version("ttsd")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["Voice", "__version__", "load_voice"]
