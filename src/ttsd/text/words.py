"""The process's one jieba word segmenter, shared by everything that cuts Chinese into words (the front end's
context rules, the Kokoro voice's word spaces), so jieba's dictionary (about 30 MB and a second of loading) is
loaded once per process, not once per user.

It is jieba's own default tokenizer (``jieba.dt``, which jieba initializes lazily and under its own lock),
pointed at ttsd's cache folder so its dictionary cache is read from there (built by ``ttsd model convert``)
rather than written to the temp dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def jieba_tokenizer(cache_dir: Path | None) -> Any:
    """jieba's default tokenizer, with its dictionary cache in ``cache_dir`` when given."""
    import jieba

    tokenizer = jieba.dt
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.tmp_dir = str(cache_dir)
    return tokenizer
