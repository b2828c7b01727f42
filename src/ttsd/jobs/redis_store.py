"""Job records, the queue and the leases in Redis (``TTSD_JOBS_STORE=redis://...``): any replica accepts, serves and
resumes any job; audio and plans stay on the jobs directory, which the replicas share (a shared volume).

Keys (prefix ``ttsd:jobs:``): ``job:<id>`` (a hash: the record), ``parts:<id>`` (a hash: part index -> its
checkpoint), and sorted sets ``all`` (by creation), ``queue`` (queued, by creation), ``running`` (by lease end)
and ``finished`` (by end). Every change that depends on a job's state or lease is one Lua script, so it is atomic
across replicas, like the SQLite store's transactions.
"""

from __future__ import annotations

import json
from typing import Any

from ttsd.jobs.model import JobStatus
from ttsd.jobs.records import JobRow, PartRow

PREFIX = "ttsd:jobs:"

_CLAIM = """
local p = ARGV[4]
local id = redis.call('ZRANGEBYSCORE', p .. 'running', '-inf', '(' .. ARGV[1], 'LIMIT', 0, 1)[1]
if not id then
  id = redis.call('ZRANGE', p .. 'queue', 0, 0)[1]
  if not id then return false end
  redis.call('ZREM', p .. 'queue', id)
end
local key = p .. 'job:' .. id
redis.call('HSET', key, 'status', 'running', 'owner', ARGV[3], 'lease_until', ARGV[2])
if redis.call('HEXISTS', key, 'started_at') == 0 then redis.call('HSET', key, 'started_at', ARGV[1]) end
redis.call('ZADD', p .. 'running', ARGV[2], id)
return id
"""
_HELD = "redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'status') == 'running'"
_RENEW = f"""
if not ({_HELD}) then return 0 end
redis.call('HSET', KEYS[1], 'lease_until', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""
_RELEASE = f"""
if not ({_HELD}) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], redis.call('HGET', KEYS[1], 'created_at'), ARGV[2])
return 1
"""
_COMMIT = f"""
if not ({_HELD}) then return 0 end
redis.call('HINCRBY', KEYS[1], 'parts_done', 1)
redis.call('HINCRBY', KEYS[1], 'characters_done', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'samples_done', ARGV[3])
redis.call('HSET', KEYS[1], 'sample_rate', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[6])
return 1
"""
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'finished_at', ARGV[3], 'error', ARGV[4], 'output_bytes', ARGV[5],
           'chapters', ARGV[6], 'reserved_bytes', 0)
redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
redis.call('ZREM', KEYS[3], ARGV[7])
redis.call('ZREM', KEYS[4], ARGV[7])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[7])
redis.call('DEL', KEYS[2])
return 1
"""


class RedisJobStore:
    """The :class:`~ttsd.jobs.records.Store` on Redis; see the module docstring. ``url``: ``redis://host:port/db``."""

    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10.0)
        self._redis.ping()
        self._p = prefix
        self._claim = self._redis.register_script(_CLAIM)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._commit = self._redis.register_script(_COMMIT)
        self._finish = self._redis.register_script(_FINISH)

    def close(self) -> None:
        self._redis.close()

    def _job(self, job_id: str) -> str:
        return f"{self._p}job:{job_id}"

    def _parts(self, job_id: str) -> str:
        return f"{self._p}parts:{job_id}"

    # -- records -----------------------------------------------------------------------------------------------

    def create(
        self, job_id: str, *, spec: dict[str, Any], characters: int, parts: int, reserved: int, now: float
    ) -> None:
        fields: dict[Any, str | int | float] = {
            "id": job_id, "status": "queued", "spec": json.dumps(spec), "characters": characters, "parts": parts,
            "reserved_bytes": reserved, "created_at": repr(now), "chapters": "[]",
            "callback": "pending" if spec.get("callback_url") else "none",
        }  # fmt: skip
        pipe = self._redis.pipeline()
        pipe.hset(self._job(job_id), mapping=fields)
        pipe.zadd(f"{self._p}all", {job_id: now})
        pipe.zadd(f"{self._p}queue", {job_id: now})
        pipe.execute()

    def get(self, job_id: str) -> JobRow | None:
        found: dict[str, str] = self._redis.hgetall(self._job(job_id))  # type: ignore[assignment]
        return _row(found) if found else None

    def page(self, *, limit: int, after: str | None, status: JobStatus | None) -> list[JobRow]:
        start = 0
        if after is not None:
            rank = self._redis.zrevrank(f"{self._p}all", after)
            if rank is None:
                return []
            start = int(rank) + 1  # type: ignore[arg-type]
        found: list[JobRow] = []
        while len(found) < limit:
            ids: list[str] = self._redis.zrevrange(f"{self._p}all", start, start + 99)  # type: ignore[assignment]
            if not ids:
                break
            start += len(ids)
            rows = [r for r in self._rows(ids) if status is None or r.status is status]
            found.extend(rows[: limit - len(found)])
        return found

    def _rows(self, ids: list[str]) -> list[JobRow]:
        pipe = self._redis.pipeline()
        for job_id in ids:
            pipe.hgetall(self._job(job_id))
        return [_row(found) for found in pipe.execute() if found]

    def delete(self, job_id: str) -> bool:
        pipe = self._redis.pipeline()
        pipe.delete(self._job(job_id), self._parts(job_id))
        for name in ("all", "queue", "running", "finished"):
            pipe.zrem(f"{self._p}{name}", job_id)
        return bool(pipe.execute()[0])

    # -- leases ------------------------------------------------------------------------------------------------

    def claim(self, owner: str, *, now: float, lease_s: float) -> str | None:
        found = self._claim(keys=[], args=[repr(now), repr(now + lease_s), owner, self._p])
        return str(found) if found else None

    def renew(self, job_id: str, owner: str, *, until: float) -> bool:
        return bool(self._renew(keys=[self._job(job_id), f"{self._p}running"], args=[owner, repr(until), job_id]))

    def release(self, job_id: str, owner: str) -> None:
        keys = [self._job(job_id), f"{self._p}running", f"{self._p}queue"]
        self._release(keys=keys, args=[owner, job_id])

    # -- progress ----------------------------------------------------------------------------------------------

    def parts(self, job_id: str) -> list[PartRow]:
        found: dict[str, str] = self._redis.hgetall(self._parts(job_id))  # type: ignore[assignment]
        rows = [(int(idx), json.loads(value)) for idx, value in found.items()]
        return [PartRow(idx, int(value["samples"]), value["cues"]) for idx, value in sorted(rows, key=lambda r: r[0])]

    def commit_part(
        self, job_id: str, owner: str, *, idx: int, samples: int, sample_rate: int, characters: int, cues: list[Any]
    ) -> bool:
        value = json.dumps({"samples": samples, "cues": cues}, ensure_ascii=False)
        keys = [self._job(job_id), self._parts(job_id)]
        return bool(self._commit(keys=keys, args=[owner, idx, samples, characters, sample_rate, value]))

    def finish(
        self,
        job_id: str,
        owner: str | None,
        *,
        status: JobStatus,
        now: float,
        error: str | None = None,
        output_bytes: int = 0,
        chapters: list[Any] | None = None,
    ) -> bool:
        keys = [self._job(job_id), self._parts(job_id)] + [f"{self._p}{n}" for n in ("queue", "running", "finished")]
        args = [owner or "", status.value, repr(now), error or "", output_bytes, json.dumps(chapters or []), job_id]
        return bool(self._finish(keys=keys, args=args))

    # -- housekeeping ------------------------------------------------------------------------------------------

    def expired(self, *, before: float) -> list[str]:
        return list(self._redis.zrangebyscore(f"{self._p}finished", "-inf", f"({before!r}"))  # type: ignore[arg-type]

    def callbacks_due(self) -> list[str]:
        ids: list[str] = self._redis.zrange(f"{self._p}finished", 0, -1)  # type: ignore[assignment]
        return [row.id for row in self._rows(ids) if row.callback == "pending"]

    def set_callback(self, job_id: str, state: str) -> None:
        if self._redis.exists(self._job(job_id)):
            self._redis.hset(self._job(job_id), "callback", state)

    def _all(self) -> list[JobRow]:
        return self._rows(self._redis.zrange(f"{self._p}all", 0, -1))  # type: ignore[arg-type]

    def counts(self) -> dict[JobStatus, int]:
        rows = self._all()
        return {status: sum(1 for r in rows if r.status is status) for status in JobStatus}

    def backlog_chars(self) -> int:
        return sum(r.characters - r.characters_done for r in self._all() if not r.status.finished)

    def used_bytes(self) -> int:
        return sum(r.reserved_bytes + r.output_bytes for r in self._all())


def _row(found: dict[str, str]) -> JobRow:
    def num(name: str) -> int:
        return int(found.get(name) or 0)

    def when(name: str) -> float | None:
        value = found.get(name)
        return float(value) if value else None

    return JobRow(
        id=found["id"], status=JobStatus(found["status"]), spec=json.loads(found["spec"]),
        characters=num("characters"), characters_done=num("characters_done"), parts=num("parts"),
        parts_done=num("parts_done"), samples_done=num("samples_done"), sample_rate=num("sample_rate"),
        reserved_bytes=num("reserved_bytes"), output_bytes=num("output_bytes"), created_at=float(found["created_at"]),
        started_at=when("started_at"), finished_at=when("finished_at"), error=found.get("error") or None,
        owner=found.get("owner"), lease_until=when("lease_until"), chapters=json.loads(found.get("chapters", "[]")),
        callback=found.get("callback", "none"),
    )  # fmt: skip
