"""The end of a job: its committed parts -> one encoded file, subtitles and chapter marks.

Parts are read and encoded one at a time (:class:`~ttsd.audio.StreamEncoder`), so a book of hours of audio
never sits in memory; each part is preceded by the pause that follows the part before it (the plan's), as a
single request's sentences are. Outputs go to temporary names and are renamed into place last, so a kill during
assembly leaves no partial file: the restarted job assembles again from its parts. A WAV file gets its real
sizes written into the header once the data is complete.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsd.audio import AudioSpec, StreamEncoder
from ttsd.jobs.files import JobFiles, replace_atomically
from ttsd.jobs.model import Chapter
from ttsd.jobs.plan import Plan
from ttsd.jobs.records import PartRow
from ttsd.subtitles import Cue, to_srt, to_vtt

_WAV_HEADER = 44


@dataclass(frozen=True, slots=True)
class Assembled:
    output_bytes: int
    audio_s: float
    chapters: tuple[Chapter, ...]


def assemble(
    files: JobFiles, job_id: str, *, plan: Plan, parts: Sequence[PartRow], sample_rate: int, spec: AudioSpec
) -> Assembled:
    """Write the job's audio, subtitles and chapters from its parts (blocking: run it in a thread)."""
    if [p.idx for p in parts] != list(range(len(plan.parts))):
        raise RuntimeError(f"job {job_id}: {len(parts)} of {len(plan.parts)} parts committed; cannot assemble")
    target = files.audio(job_id, spec.format)
    tmp = target.with_name(target.name + ".tmp")
    encoder = StreamEncoder(source_rate=sample_rate, spec=spec)
    starts: list[float] = []
    cursor = 0
    with open(tmp, "wb") as out:
        for i, part in enumerate(parts):
            pause = round(plan.parts[i - 1].pause_after_s * sample_rate) if i else 0
            if pause:
                out.write(encoder.feed(np.zeros(pause, dtype=np.float32)))
            cursor += pause
            starts.append(cursor / sample_rate)
            out.write(encoder.feed(files.read_part(job_id, part.idx)))
            cursor += part.samples
        out.write(encoder.close())
    if spec.format in ("wav", "ulaw"):
        _fix_wav_sizes(tmp)
    size = tmp.stat().st_size
    chapters = _chapters(plan, starts)
    cues = [
        Cue(start + c[0], start + c[1], str(c[2])) for start, part in zip(starts, parts, strict=True) for c in part.cues
    ]
    replace_atomically(files.subtitles(job_id, "srt"), to_srt(cues).encode())
    replace_atomically(files.subtitles(job_id, "vtt"), to_vtt(cues).encode())
    total_s = cursor / sample_rate
    ends = [c.start_s for c in chapters[1:]] + [total_s]
    marks = [Cue(c.start_s, end, c.title) for c, end in zip(chapters, ends, strict=True)]
    replace_atomically(files.chapters(job_id), to_vtt(marks).encode())
    os.replace(tmp, target)
    return Assembled(output_bytes=size, audio_s=total_s, chapters=chapters)


def _chapters(plan: Plan, starts: Sequence[float]) -> tuple[Chapter, ...]:
    found: dict[int, Chapter] = {}
    for part, start in zip(plan.parts, starts, strict=True):
        if part.chapter not in found:
            found[part.chapter] = Chapter(title=plan.titles[part.chapter], start_s=round(start, 3))
    return tuple(found[k] for k in sorted(found))


def _fix_wav_sizes(path: Path) -> None:
    """Replace the streamed header's "unknown" sizes (0xFFFFFFFF) with the real ones."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
        f.seek(_WAV_HEADER - 4)
        f.write(struct.pack("<I", size - _WAV_HEADER))
