"""Where a job's files live under the jobs directory, and writing them so a kill never leaves a torn file.

``<dir>/jobs.sqlite3`` holds the records; ``<dir>/<id>/`` one job: ``plan.json`` (written before its record
exists), ``parts/<n>.s16`` (one finished part's PCM, 16-bit, renamed into place before its record is committed),
``audio.<format>`` and ``subtitles.{srt,vtt}`` / ``chapters.vtt`` (renamed into place when the job succeeds).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ttsd.audio import to_int16
from ttsd.jobs.plan import Plan
from ttsd.voices.base import FloatArray

DB_NAME = "jobs.sqlite3"


class JobFiles:
    """See the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @property
    def database(self) -> Path:
        return self.root / DB_NAME

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def part(self, job_id: str, idx: int) -> Path:
        return self.folder(job_id) / "parts" / f"{idx:07d}.s16"

    def audio(self, job_id: str, fmt: str) -> Path:
        return self.folder(job_id) / f"audio.{fmt}"

    def subtitles(self, job_id: str, fmt: str) -> Path:
        return self.folder(job_id) / f"subtitles.{fmt}"

    def chapters(self, job_id: str) -> Path:
        return self.folder(job_id) / "chapters.vtt"

    def write_plan(self, job_id: str, plan: Plan) -> None:
        (self.folder(job_id) / "parts").mkdir(parents=True, exist_ok=True)
        replace_atomically(self.folder(job_id) / "plan.json", json.dumps(plan.to_json(), ensure_ascii=False).encode())

    def read_plan(self, job_id: str) -> Plan:
        return Plan.from_json(json.loads((self.folder(job_id) / "plan.json").read_text(encoding="utf-8")))

    def write_part(self, job_id: str, idx: int, audio: FloatArray) -> None:
        replace_atomically(self.part(job_id, idx), to_int16(audio).astype("<i2").tobytes())

    def read_part(self, job_id: str, idx: int) -> FloatArray:
        return (np.fromfile(self.part(job_id, idx), dtype="<i2") / np.float32(32767.0)).astype(np.float32)

    def drop_parts(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id) / "parts", ignore_errors=True)

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file and a rename: readers (and a restart after a kill) see the old
    file or the whole new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
