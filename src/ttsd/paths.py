"""Where ttsd keeps what it builds once and reads at every start: converted weights, the text normalization
grammar and jieba's dictionary cache, all under one root (``TTSD_MODEL_DIR``, else the user cache dir).

``ttsd model convert`` (run by ``scripts/install.sh`` and the images' build) fills the root, so that a container
start only reads it and writes nothing to the temp dir (jieba's default for its cache is ``/tmp/jieba.cache``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "ttsd"
JIEBA_SUBDIR = "jieba"  # the text front end's convention: TextFrontend(cache_dir=root) keeps jieba in root/jieba
JIEBA_CACHE_FILE = "jieba.cache"  # jieba's own name for the default dictionary's cache


@dataclass(frozen=True, slots=True)
class CacheDirs:
    """The cache folders under one root.

    * ``root``: converted weights; pass it as ``TextFrontend(cache_dir=root)``.
    * ``grammar``: where the text normalizer puts its versioned grammar folder (``wetext-<version>-...``).
    * ``jieba``: jieba's ``tmp_dir`` (its cache file is :attr:`jieba_cache`).
    """

    root: Path
    grammar: Path
    jieba: Path

    @property
    def jieba_cache(self) -> Path:
        return self.jieba / JIEBA_CACHE_FILE


def user_cache_dir() -> Path:
    """The user cache dir for ttsd (e.g. ``~/.cache/ttsd``)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def user_data_dir() -> Path:
    """The user data dir for ttsd (e.g. ``~/.local/share/ttsd``): what ttsd keeps for users (long-form jobs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dirs(model_dir: Path | None = None) -> CacheDirs:
    """The cache folders under ``model_dir`` (``Settings.model_dir``), or under the user cache dir when unset."""
    root = Path(model_dir).expanduser() if model_dir is not None else user_cache_dir()
    return CacheDirs(root=root, grammar=root, jieba=root / JIEBA_SUBDIR)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the whole new one, never a part (temp file + rename).

    The file is world-readable: a cache converted by root (e.g. at image build) must stay readable by the
    unprivileged user that serves it (``mkstemp`` alone makes 0600 files)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sha256_file(path: Path) -> str:
    """The sha256 of a (possibly large) file, read in 1 MiB blocks: how both voices pin their assets."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
