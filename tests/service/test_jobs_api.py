"""The long-form jobs API on the fake voice: submit, poll, download (with Range), subtitles, chapters, cancel,
remove, listing, the upload form, and every refusal at submission (404, 409, 413, 422, 507)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.service.fakes import FakeService
from tests.service.jobs_helpers import jobs_service, wait_for_status
from ttsd.jobs.plan import plan_text
from ttsd.voices.fake import HOP, frames_for, tone_hz
from ttsd.voices.options import FakeOptions

BOOK = "第一章 开始\n今天天气很好。我们去公园散步吧！\n\n路上买一杯豆浆。\n第二章 回家\n晚上我们回家了。"


def _expected_audio(fake: FakeService, text: str) -> list[tuple[int, int, float]]:
    """(start sample, length, tone) of every sentence the job's plan makes of ``text``."""
    plan = plan_text(text, markup=False)
    rate = fake.voice.sample_rate
    out: list[tuple[int, int, float]] = []
    cursor = 0
    for i, part in enumerate(plan.parts):
        if i:
            cursor += round(plan.parts[i - 1].pause_after_s * rate)
        (utt,) = fake.utterances(part.text)
        n = frames_for(utt) * HOP
        out.append((cursor, n, tone_hz(utt.ids)))
        cursor += n
    return out


async def test_a_job_runs_to_a_file_with_subtitles_and_chapters(tmp_path: Path) -> None:
    async with jobs_service(tmp_path) as svc:
        answer = await svc.client.post("/v1/jobs", json={"input": BOOK, "response_format": "wav", "voice": "alloy"})
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["status"] == "queued"
        assert answer.headers["location"] == f"/v1/jobs/{job['id']}"
        done = await wait_for_status(svc.client, job["id"])
        assert done["progress"] == 1.0
        assert done["sentences_done"] == done["sentences"] == 6
        assert [c["title"] for c in done["chapters"]] == ["第一章 开始", "第二章 回家"]
        audio = await svc.client.get(f"/v1/jobs/{job['id']}/audio")
        assert audio.status_code == 200
        assert audio.headers["content-type"] == "audio/wav"
        samples, rate = sf.read(io.BytesIO(audio.content), dtype="float32")
        assert b"cue " in audio.content, "a WAV of two chapters carries cue points (tests/unit/jobs/test_marks.py)"
        assert "第二章 回家".encode() in audio.content
        expected = _expected_audio(svc.fake, BOOK)
        start, length, _ = expected[-1]
        assert len(samples) == start + length
        for start, length, hz in expected:
            spectrum = np.abs(np.fft.rfft(samples[start : start + length]))
            assert abs(np.argmax(spectrum) * rate / length - hz) <= rate / length
        assert done["audio_seconds"] == round(sum(n for _, n, _ in expected) / rate, 3)
        assert done["chapters"][1]["start"] == round(expected[4][0] / rate, 3)
        srt = await svc.client.get(f"/v1/jobs/{job['id']}/subtitles", params={"format": "srt"})
        assert srt.status_code == 200
        assert "晚上我们回家了" in srt.text
        assert "-->" in srt.text
        chapters = await svc.client.get(f"/v1/jobs/{job['id']}/subtitles", params={"format": "chapters"})
        assert chapters.text.startswith("WEBVTT")
        assert "第二章 回家" in chapters.text


async def test_audio_supports_range_requests(tmp_path: Path) -> None:
    async with jobs_service(tmp_path) as svc:
        job = (await svc.client.post("/v1/jobs", json={"text": BOOK, "response_format": "wav"})).json()
        await wait_for_status(svc.client, job["id"])
        whole = (await svc.client.get(f"/v1/jobs/{job['id']}/audio")).content
        part = await svc.client.get(f"/v1/jobs/{job['id']}/audio", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == whole[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
        tail = await svc.client.get(f"/v1/jobs/{job['id']}/audio", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206
        assert tail.content == whole[-10:]
        beyond = await svc.client.get(f"/v1/jobs/{job['id']}/audio", headers={"Range": f"bytes={len(whole)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(whole)}"


async def test_wrong_state_is_409_with_the_status_then_cancel_and_remove(tmp_path: Path) -> None:
    slow = FakeOptions(delay_ms_per_batch=200)
    async with jobs_service(tmp_path, faults=slow, jobs_parallel=1) as svc:
        job = (await svc.client.post("/v1/jobs", json={"input": BOOK * 3, "response_format": "wav"})).json()
        running = await wait_for_status(svc.client, job["id"], ("running",))
        early = await svc.client.get(f"/v1/jobs/{job['id']}/audio")
        assert early.status_code == 409
        assert early.json()["error"]["status"] == running["status"] == "running"
        cancelled = await svc.client.post(f"/v1/jobs/{job['id']}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        again = await svc.client.post(f"/v1/jobs/{job['id']}/cancel")
        assert again.status_code == 409
        assert again.json()["error"]["status"] == "cancelled"
        assert (await svc.client.delete(f"/v1/jobs/{job['id']}")).status_code == 204
        gone = await svc.client.get(f"/v1/jobs/{job['id']}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "job_not_found"
        assert not (tmp_path / job["id"]).exists()
        assert (await svc.client.delete(f"/v1/jobs/{job['id']}")).status_code == 404


async def test_every_field_is_checked_at_submission(tmp_path: Path) -> None:
    async with jobs_service(tmp_path, jobs_max_chars=200, jobs_callback_hosts=["hooks.example.com"]) as svc:
        post = svc.client.post
        cases = [
            ({"input": "你好。", "voice": "nobody"}, 422, "unknown_voice"),
            ({"input": "你好。", "speed": 9}, 422, "invalid_parameter"),
            ({"input": "你好。", "emotion": "happy"}, 422, "invalid_parameter"),
            ({"input": "<speak><prosody rate='x'>你好</prosody></speak>", "input_type": "ssml"}, 422, "invalid_markup"),
            ({"input": "你好。", "response_format": "opus", "sample_rate": 22050}, 422, "invalid_parameter"),
            ({"input": "你好。", "callback_url": "https://evil.example.org/x"}, 422, "invalid_parameter"),
            ({"input": "   "}, 422, "invalid_text"),
            ({"input": "你好。" * 100}, 413, "text_too_long"),
            ({"input": "你好。", "text": "你好。"}, 422, "invalid_parameter"),
            ({}, 422, "invalid_parameter"),
        ]
        for body, status, code in cases:
            answer = await post("/v1/jobs", json=body)
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (body, answer.text)
        assert (await svc.client.get("/v1/jobs/job_0123456789abcdef0123")).status_code == 404
        malformed = await svc.client.get("/v1/jobs/job_nope")  # can never name a job
        assert malformed.status_code == 422
        assert malformed.json()["error"]["param"] == "path.job_id"
        allowed = await post("/v1/jobs", json={"input": "你好。", "callback_url": "https://hooks.example.com/done"})
        assert allowed.status_code == 202


async def test_a_spent_disk_budget_is_507(tmp_path: Path) -> None:
    async with jobs_service(tmp_path, jobs_quota_gb=0.0001) as svc:  # ~107 kB: about one second of audio
        answer = await svc.client.post("/v1/jobs", json={"input": "今天天气很好。" * 20})
        assert answer.status_code == 507
        assert answer.json()["error"]["code"] == "insufficient_storage"


async def test_a_text_file_upload_with_query_options(tmp_path: Path) -> None:
    async with jobs_service(tmp_path) as svc:
        body = ("\ufeff" + BOOK).encode("utf-8")
        answer = await svc.client.post(
            "/v1/jobs/upload", content=body, params={"response_format": "flac", "speed": "1.5"},
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )  # fmt: skip
        assert answer.status_code == 202, answer.text
        done = await wait_for_status(svc.client, answer.json()["id"])
        planned = sum(len(part.text) for part in plan_text(BOOK, markup=False).parts)  # the BOM is dropped
        assert done["response_format"] == "flac"
        assert done["characters"] == planned
        audio = await svc.client.get(f"/v1/jobs/{done['id']}/audio")
        assert audio.headers["content-type"] == "audio/flac"
        assert audio.content[:4] == b"fLaC"
        bad = await svc.client.post("/v1/jobs/upload", content=b"\xff\xfe\x00", params={})
        assert bad.status_code == 422
        assert "UTF-8" in bad.json()["error"]["message"]
        wrong = await svc.client.post("/v1/jobs/upload", content=BOOK.encode(), params={"speed": "fast"})
        assert wrong.status_code == 422
        assert wrong.json()["error"]["param"] == "speed"


async def test_jobs_are_listed_newest_first_in_pages(tmp_path: Path) -> None:
    async with jobs_service(tmp_path) as svc:
        ids = [(await svc.client.post("/v1/jobs", json={"input": f"第{i}句。"})).json()["id"] for i in range(5)]
        first = (await svc.client.get("/v1/jobs", params={"limit": 3})).json()
        assert [j["id"] for j in first["data"]] == ids[::-1][:3]
        assert first["has_more"]
        rest = (await svc.client.get("/v1/jobs", params={"limit": 3, "after": first["next_after"]})).json()
        assert [j["id"] for j in rest["data"]] == ids[::-1][3:]
        assert not rest["has_more"]


async def test_an_unusable_jobs_directory_turns_jobs_off_not_the_service(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    async with jobs_service(blocked / "jobs") as svc:
        answer = await svc.client.post("/v1/jobs", json={"input": "你好。"})
        assert answer.status_code == 503
        assert "TTSD_JOBS_DIR" in answer.json()["error"]["message"]
        assert (await svc.client.post("/tts", json={"text": "你好。"})).status_code == 200
        assert (await svc.client.get("/ui/config")).json()["jobs_max_chars"] == 0


async def test_jobs_wait_for_a_redis_store_that_is_not_up_yet(tmp_path: Path) -> None:
    from tests.redis_helpers import free_port, redis_server

    port = free_port()
    store = f"redis://127.0.0.1:{port}/0"
    async with jobs_service(tmp_path, jobs_store=store, jobs_lease_s=0.6) as svc:
        early = await svc.client.post("/v1/jobs", json={"input": "你好。"})
        assert early.status_code == 503
        assert "TTSD_JOBS_STORE" in early.json()["error"]["message"]
        with redis_server(port):
            for _ in range(200):  # the loop retries every lease_s / 3
                answer = await svc.client.post("/v1/jobs", json={"input": "你好。", "response_format": "wav"})
                if answer.status_code == 202:
                    break
                await asyncio.sleep(0.05)
            assert answer.status_code == 202, answer.text
            done = await wait_for_status(svc.client, answer.json()["id"])
            assert done["sentences_done"] == 1


async def test_a_drained_server_hands_its_job_back_and_the_next_start_resumes_it(tmp_path: Path) -> None:
    slow = FakeOptions(delay_ms_per_batch=100)
    text = "".join(f"第{i}句话各不相同。" for i in range(40))
    async with jobs_service(tmp_path, faults=slow, jobs_parallel=2) as svc:
        job = (await svc.client.post("/v1/jobs", json={"input": text, "response_format": "wav"})).json()
        await wait_for_status(svc.client, job["id"], ("running",))
        while (await svc.client.get(f"/v1/jobs/{job['id']}")).json()["sentences_done"] < 4:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        first_batches = svc.voice.batches
    # The lifespan ended (SIGTERM): the job went back to the queue at once, no lease to wait for.
    async with jobs_service(tmp_path, jobs_lease_s=600) as svc:
        done = await wait_for_status(svc.client, job["id"])
        assert done["sentences_done"] == 40
        again = {text for batch in svc.voice.batches for text in batch}
    before = {text for batch in first_batches for text in batch}
    assert len(before & again) <= 2, "at most the sentences in flight at the drain are synthesized again"


async def test_job_metrics_by_state_characters_and_backlog(tmp_path: Path) -> None:
    async with jobs_service(tmp_path, jobs_lease_s=0.3) as svc:
        job = (await svc.client.post("/v1/jobs", json={"input": BOOK, "response_format": "wav"})).json()
        done = await wait_for_status(svc.client, job["id"])
        for _ in range(100):  # published by the jobs loop
            if await svc.metric("ttsd_jobs", state="succeeded") == 1:
                break
            await asyncio.sleep(0.02)
        assert await svc.metric("ttsd_jobs", state="succeeded") == 1
        assert await svc.metric("ttsd_jobs", state="running") == 0
        assert await svc.metric("ttsd_job_characters_total") == done["characters"]
        assert await svc.metric("ttsd_jobs_backlog_characters") == 0


async def test_an_ssml_job_and_a_job_with_nothing_to_say_in_a_sentence(tmp_path: Path) -> None:
    async with jobs_service(tmp_path) as svc:
        ssml = '<speak>你好。<break time="300ms"/>再见。</speak>'
        job = (await svc.client.post("/v1/jobs", json={"input": ssml, "response_format": "wav"})).json()
        done = await wait_for_status(svc.client, job["id"])
        assert done["sentences"] == 1
        assert done["audio_seconds"] > 0.3
        odd = (
            await svc.client.post("/v1/jobs", json={"input": "你好。\n\n……\n\n再见。", "response_format": "wav"})
        ).json()
        done = await wait_for_status(svc.client, odd["id"], ("succeeded", "failed"))
        assert done["status"] == "succeeded", done
