"""The end of a job: its committed parts -> one encoded file, subtitles and chapter marks.

Parts are read and encoded one at a time (:class:`~ttsd.audio.StreamEncoder`), so a book of hours of audio
never sits in memory; each part is preceded by the pause that follows the part before it (the plan's), as a
single request's sentences are. Outputs go to temporary names and are renamed into place last, so a kill during
assembly leaves no partial file: the restarted job assembles again from its parts. A WAV file gets its real
sizes written into the header once the data is complete. A job of two or more chapters has chapter marks
written into the file where the format carries them: WAV and mu-law WAV get ``cue``/``labl`` chunks after the
data (:mod:`ttsd.jobs.marks`), MP3 and Opus get them in their header (:class:`~ttsd.audio.Mark`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import numpy as np

from ttsd.audio import AudioSpec, Mark, StreamEncoder
from ttsd.jobs.files import JobFiles, replace_atomically
from ttsd.jobs.marks import append_wav_marks
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
    pauses = [round(plan.parts[i - 1].pause_after_s * sample_rate) if i else 0 for i in range(len(parts))]
    offsets = list(accumulate((pause + part.samples for pause, part in zip(pauses, parts, strict=True)), initial=0))
    first = [offset + pause for offset, pause in zip(offsets[:-1], pauses, strict=True)]  # each part's first sample
    total = offsets[-1]
    starts = [f / sample_rate for f in first]
    chapters = _chapters(plan, starts)
    marks = _marks(plan, first, total, sample_rate, spec.output_rate(sample_rate))
    target = files.audio(job_id, spec.format)
    tmp = target.with_name(target.name + ".tmp")
    encoder = StreamEncoder(source_rate=sample_rate, spec=spec, marks=marks)
    with open(tmp, "wb") as out:
        for part, pause in zip(parts, pauses, strict=True):
            if pause:
                out.write(encoder.feed(np.zeros(pause, dtype=np.float32)))
            out.write(encoder.feed(files.read_part(job_id, part.idx)))
        out.write(encoder.close())
    if spec.format in ("wav", "ulaw"):
        _fix_wav_sizes(tmp)
        append_wav_marks(tmp, marks)
    size = tmp.stat().st_size
    _write_subtitles(files, job_id, starts=starts, parts=parts, chapters=chapters, total_s=total / sample_rate)
    os.replace(tmp, target)
    return Assembled(output_bytes=size, audio_s=total / sample_rate, chapters=chapters)


def _write_subtitles(
    files: JobFiles,
    job_id: str,
    *,
    starts: Sequence[float],
    parts: Sequence[PartRow],
    chapters: Sequence[Chapter],
    total_s: float,
) -> None:
    cues = [
        Cue(start + c[0], start + c[1], str(c[2])) for start, part in zip(starts, parts, strict=True) for c in part.cues
    ]
    replace_atomically(files.subtitles(job_id, "srt"), to_srt(cues).encode())
    replace_atomically(files.subtitles(job_id, "vtt"), to_vtt(cues).encode())
    ends = [c.start_s for c in chapters[1:]] + [total_s]
    marks = [Cue(c.start_s, end, c.title) for c, end in zip(chapters, ends, strict=True)]
    replace_atomically(files.chapters(job_id), to_vtt(marks).encode())


def _first_parts(plan: Plan) -> dict[int, int]:
    """Chapter number -> the index of its first part."""
    found: dict[int, int] = {}
    for i, part in enumerate(plan.parts):
        found.setdefault(part.chapter, i)
    return dict(sorted(found.items()))


def _chapters(plan: Plan, starts: Sequence[float]) -> tuple[Chapter, ...]:
    return tuple(
        Chapter(title=plan.titles[chapter], start_s=round(starts[i], 3)) for chapter, i in _first_parts(plan).items()
    )


def _marks(plan: Plan, first: Sequence[int], total: int, source_rate: int, rate: int) -> tuple[Mark, ...]:
    """The marks written into the file, at its rate: none for a job of one chapter (nothing to navigate)."""
    chapters = _first_parts(plan)
    if len(chapters) < 2:
        return ()
    starts = [round(first[i] * rate / source_rate) for i in chapters.values()]
    ends = [*starts[1:], round(total * rate / source_rate)]
    titles = [plan.titles[chapter] for chapter in chapters]
    return tuple(Mark(start, end, title) for start, end, title in zip(starts, ends, titles, strict=True))


def _fix_wav_sizes(path: Path) -> None:
    """Replace the streamed header's "unknown" sizes (0xFFFFFFFF) with the real ones."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
        f.seek(_WAV_HEADER - 4)
        f.write(struct.pack("<I", size - _WAV_HEADER))
