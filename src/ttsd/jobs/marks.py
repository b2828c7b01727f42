"""Chapter marks inside a finished WAV file: a ``cue `` chunk and a ``LIST``/``adtl`` chunk of ``labl`` titles.

Both chunks follow the ``data`` chunk, so the header and the samples are exactly those of the file without marks;
players that do not know cue points skip the chunks (RIFF readers skip unknown chunks by their size). Each
chapter is one cue point (ids from 1) whose position is its first sample frame at the file's rate; its title is
a ``labl`` sub-chunk for the same id, UTF-8 and NUL-terminated. Chunks are word-aligned (a pad byte follows an
odd-sized one, as RIFF requires; a mu-law ``data`` chunk of odd length gets its pad byte here).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from ttsd.audio import Mark


def wav_mark_chunks(marks: Sequence[Mark]) -> bytes:
    """The ``cue `` and ``LIST``/``adtl`` chunks for ``marks`` (empty bytes for no marks)."""
    if not marks:
        return b""
    points = b"".join(
        struct.pack("<II4sIII", number, mark.start, b"data", 0, 0, mark.start)
        for number, mark in enumerate(marks, start=1)
    )
    cue = _chunk(b"cue ", struct.pack("<I", len(marks)) + points)
    labels = b"".join(
        _chunk(b"labl", struct.pack("<I", number) + mark.title.encode("utf-8") + b"\0")
        for number, mark in enumerate(marks, start=1)
    )
    return cue + _chunk(b"LIST", b"adtl" + labels)


def append_wav_marks(path: Path, marks: Sequence[Mark]) -> None:
    """Append the mark chunks to a complete WAV file (sizes already real) and fix the RIFF size."""
    chunks = wav_mark_chunks(marks)
    if not chunks:
        return
    with open(path, "r+b") as f:
        end = f.seek(0, 2)
        if end % 2:
            f.write(b"\0")  # the data chunk's pad byte
        f.write(chunks)
        size = f.tell()
        f.seek(4)
        f.write(struct.pack("<I", size - 8))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")
