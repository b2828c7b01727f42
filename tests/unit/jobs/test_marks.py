"""Chapter marks inside a job's finished file: WAV cue/labl chunks, MP3/Opus/FLAC chapters; the audio untouched."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from ttsd.audio import AudioSpec, Mark
from ttsd.jobs.assemble import assemble
from ttsd.jobs.files import JobFiles
from ttsd.jobs.marks import wav_mark_chunks
from ttsd.jobs.plan import Part, Plan
from ttsd.jobs.records import PartRow

RATE = 24000
PAUSE_S = 0.2
LENGTHS = (7001, 3000, 4999, 6000, 2500)  # samples per part, at RATE
CHAPTER_OF = (0, 0, 1, 1, 2)
TITLES = ("第一章 开端", "Chapter 2: the middle", "第三章 结局 ✓")


def _part_firsts() -> list[int]:
    """Each part's first sample at RATE: every part but the first follows a PAUSE_S pause."""
    pause = round(PAUSE_S * RATE)
    firsts, cursor = [], 0
    for i, length in enumerate(LENGTHS):
        cursor += pause if i else 0
        firsts.append(cursor)
        cursor += length
    return firsts


def _assemble(tmp_path: Path, spec: AudioSpec, *, chapters: bool) -> bytes:
    """Assemble the same five parts (same pauses) as three chapters, or as one (no marks)."""
    which = tuple(CHAPTER_OF) if chapters else (0,) * len(LENGTHS)
    plan = Plan(
        parts=tuple(Part(f"sentence {i}", PAUSE_S, c) for i, c in enumerate(which)),
        titles=TITLES if chapters else (TITLES[0],),
    )
    files = JobFiles(tmp_path / ("three" if chapters else "one"))
    files.write_plan("job", plan)
    rng = np.random.default_rng(7)
    rows = []
    for i, length in enumerate(LENGTHS):
        files.write_part("job", i, (0.3 * rng.standard_normal(length)).astype(np.float32))
        rows.append(PartRow(idx=i, samples=length, cues=[]))
    done = assemble(files, "job", plan=plan, parts=rows, sample_rate=RATE, spec=spec)
    data = files.audio("job", spec.format).read_bytes()
    assert done.output_bytes == len(data)
    return data


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8, "the RIFF size covers the whole file"
    chunks, pos, pad = [], 12, 0
    while pos < len(data):
        kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunks.append((kind, data[pos + 8 : pos + 8 + size]))
        pos, pad = pos + 8 + size + size % 2, size % 2
    assert len(data) in (pos, pos - pad), "chunks end at the end of the file (a last chunk may omit its pad)"
    return chunks


def _as_riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WAVE" + chunks


def _wav_marks(data: bytes) -> list[tuple[int, str]]:
    """(sample offset, title) per cue point, read back from the cue and LIST/adtl chunks."""
    chunks = dict(_riff_chunks(data))
    cue = chunks[b"cue "]
    count = struct.unpack("<I", cue[:4])[0]
    offsets: dict[int, int] = {}
    for n in range(count):
        name, position, chunk, chunk_start, block_start, offset = struct.unpack_from("<II4sIII", cue, 4 + 24 * n)
        assert (chunk, chunk_start, block_start, position) == (b"data", 0, 0, offset)
        offsets[name] = offset
    adtl = chunks[b"LIST"]
    assert adtl[:4] == b"adtl"
    titles: dict[int, str] = {}
    for kind, body in _riff_chunks(_as_riff(adtl[4:])):
        assert kind == b"labl"
        assert body.endswith(b"\0")
        titles[struct.unpack("<I", body[:4])[0]] = body[4:-1].decode("utf-8")
    assert sorted(offsets) == sorted(titles) == list(range(1, count + 1))
    return [(offsets[n], titles[n]) for n in sorted(offsets)]


@pytest.mark.parametrize(("fmt", "rate"), [("wav", None), ("wav", 16000), ("ulaw", None)])
def test_a_wav_job_of_three_chapters_carries_cue_points_and_titles_after_the_unchanged_audio(
    tmp_path: Path, fmt: str, rate: int | None
) -> None:
    spec = AudioSpec(format=fmt, sample_rate=rate)
    out_rate = spec.output_rate(RATE)
    marked = _assemble(tmp_path, spec, chapters=True)
    plain = _assemble(tmp_path, spec, chapters=False)

    firsts = _part_firsts()
    expected = [round(firsts[i] * out_rate / RATE) for i in (0, 2, 4)]
    assert _wav_marks(marked) == list(zip(expected, TITLES, strict=True))
    ffmpeg_marks, _ = _container_marks(marked)  # FFmpeg's WAV demuxer reads the cue points as chapters
    assert ffmpeg_marks == [(offset / out_rate, title) for offset, title in zip(expected, TITLES, strict=True)]
    # the header (but the RIFF size) and every data byte are those of the file without marks
    assert marked[8 : len(plain)] == plain[8:]
    assert marked[:4] == plain[:4]
    assert [kind for kind, _ in _riff_chunks(plain)] == [b"fmt ", b"data"]
    assert [kind for kind, _ in _riff_chunks(marked)] == [b"fmt ", b"data", b"cue ", b"LIST"]
    if fmt == "wav":  # readers that skip cue chunks get the same samples
        np.testing.assert_array_equal(sf.read(io.BytesIO(marked))[0], sf.read(io.BytesIO(plain))[0])


def test_an_odd_sized_data_chunk_gets_its_pad_byte_before_the_marks(tmp_path: Path) -> None:
    marked = _assemble(tmp_path, AudioSpec(format="ulaw"), chapters=True)
    data = dict(_riff_chunks(marked))[b"data"]
    assert len(data) % 2 == 1, "the test needs an odd number of mu-law samples"
    assert [title for _, title in _wav_marks(marked)] == list(TITLES)


def test_mark_chunks_are_word_aligned_and_empty_without_marks() -> None:
    assert wav_mark_chunks([]) == b""
    chunks = wav_mark_chunks([Mark(0, 10, "a"), Mark(10, 20, "二")])  # "a\0" is even, "二\0" is odd (4 bytes)
    assert len(chunks) % 2 == 0
    kinds = [kind for kind, _ in _riff_chunks(_as_riff(chunks))]
    assert kinds == [b"cue ", b"LIST"]


def _container_marks(data: bytes) -> tuple[list[tuple[float, str]], list[bytes]]:
    """(start seconds, title) per chapter as the demuxer reads them, and the audio packets' bytes."""
    with av.open(io.BytesIO(data), mode="r") as container:
        marks = [(float(c["start"] * (c["time_base"] or 1)), c["metadata"]["title"]) for c in container.chapters()]
        packets = [bytes(p) for p in container.demux(audio=0) if p.size]
    return marks, packets


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac"])
def test_mp3_opus_and_flac_jobs_carry_their_chapters_in_the_header(tmp_path: Path, fmt: str) -> None:
    spec = AudioSpec(format=fmt)
    out_rate = spec.output_rate(RATE)
    marked = _assemble(tmp_path, spec, chapters=True)
    if fmt == "mp3":  # an ID3v2.4 tag with a table of contents and one CHAP frame per chapter
        assert marked[:4] == b"ID3\x04"
        assert marked.count(b"CTOC") == 1
        assert marked.count(b"CHAP") == len(TITLES)
    marks, packets = _container_marks(marked)
    plain_marks, plain_packets = _container_marks(_assemble(tmp_path, spec, chapters=False))

    firsts = _part_firsts()
    expected = [round(firsts[i] * out_rate / RATE) / out_rate for i in (0, 2, 4)]
    assert [title for _, title in marks] == list(TITLES)
    np.testing.assert_allclose([start for start, _ in marks], expected, atol=0.001)  # stored in milliseconds
    assert plain_marks == []
    assert packets == plain_packets, "the encoded audio is the same as without marks"


@pytest.mark.parametrize("fmt", ["aac", "pcm"])
def test_formats_without_chapter_marks_are_unchanged(tmp_path: Path, fmt: str) -> None:
    spec = AudioSpec(format=fmt)
    assert _assemble(tmp_path, spec, chapters=True) == _assemble(tmp_path, spec, chapters=False)


def test_vorbis_chapter_times_count_hours_minutes_seconds_and_milliseconds() -> None:
    from ttsd.audio import _vorbis_chapters

    tags = _vorbis_chapters([Mark(0, 8000, "零"), Mark(3723456 * 8, 3723456 * 8 + 1, "后")], 8000)
    assert tags == {
        "CHAPTER000": "00:00:00.000",
        "CHAPTER000NAME": "零",
        "CHAPTER001": "01:02:03.456",
        "CHAPTER001NAME": "后",
    }
