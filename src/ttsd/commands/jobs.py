"""Long-form jobs against a running server: ``ttsd jobs submit | status | list | fetch | cancel``.

Examples: ``ttsd jobs submit book.txt --voice zf_xiaobei --format mp3 --wait -o book.mp3`` (submit, show
progress, download); ``ttsd jobs status job_...``; ``ttsd jobs fetch job_... -o book.mp3 --subtitles book.srt``;
``ttsd jobs cancel job_... --remove``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

POLL_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL (http://127.0.0.1:8080)")
    parser.add_argument("--api-key", default=None, help="Bearer key, if the server requires one")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    submit = sub.add_parser("submit", help="submit a UTF-8 text file ('-': standard input)")
    submit.add_argument("file", help="the text (UTF-8), or '-' for standard input")
    submit.add_argument("--voice", default=None, help="voice or speaker (default: the server's)")
    submit.add_argument("--format", default="mp3", help="mp3 (default), wav, flac, opus, aac, pcm, ulaw")
    submit.add_argument("--speed", type=float, default=None, help="speaking rate (1.25 = 25%% faster)")
    submit.add_argument("--ssml", action="store_true", help="the text is SSML")
    submit.add_argument("--subtitles", choices=("srt", "vtt"), default=None, help="default subtitles format")
    submit.add_argument("--callback-url", default=None, help="called once when the job ends (host must be allowed)")
    submit.add_argument("--wait", action="store_true", help="show progress until the job ends")
    submit.add_argument("-o", "--output", type=Path, default=None, help="with --wait: download the audio here")
    status = sub.add_parser("status", help="a job's state")
    status.add_argument("id")
    status.add_argument("--json", action="store_true", help="print the server's JSON")
    listing = sub.add_parser("list", help="recent jobs, newest first")
    listing.add_argument("--limit", type=int, default=20)
    fetch = sub.add_parser("fetch", help="download a finished job's audio (and subtitles)")
    fetch.add_argument("id")
    fetch.add_argument("-o", "--output", type=Path, required=True, help="audio file to write")
    fetch.add_argument("--subtitles", type=Path, default=None, help="also write subtitles (.srt or .vtt)")
    cancel = sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    cancel.add_argument("--remove", action="store_true", help="also delete it and its files")


def run(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=60.0) as client:
        try:
            return int(ACTIONS[args.action](client, args))
        except httpx.TransportError as exc:
            print(f"ttsd jobs: cannot reach {args.url}: {exc}", file=sys.stderr)
            return 1
        except _Refused as exc:
            print(f"ttsd jobs: {exc}", file=sys.stderr)
            return 1


class _Refused(Exception):
    pass


def _checked(answer: httpx.Response) -> Any:
    if answer.status_code >= 400:
        try:
            message = answer.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = answer.text[:300]
        raise _Refused(f"{answer.status_code}: {message}")
    return answer.json() if answer.headers.get("content-type", "").startswith("application/json") else answer


def _submit(client: httpx.Client, args: argparse.Namespace) -> int:
    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    params: dict[str, Any] = {"response_format": args.format}
    for key in ("voice", "speed", "subtitles", "callback_url"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.ssml:
        params["input_type"] = "ssml"
    job = _checked(client.post("/v1/jobs/upload", content=data, params=params, headers={"Content-Type": "text/plain"}))
    print(job["id"])
    if not args.wait:
        return 0
    job = _follow(client, job["id"])
    if job["status"] != "succeeded":
        print(f"job {job['id']} {job['status']}: {job.get('error') or ''}", file=sys.stderr)
        return 1
    if args.output is not None:
        _download(client, job["id"], args.output)
    return 0


def _follow(client: httpx.Client, job_id: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = _checked(client.get(f"/v1/jobs/{job_id}"))
        print(f"\r{_line(job)}", end="", file=sys.stderr, flush=True)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            print(file=sys.stderr)
            return job
        time.sleep(POLL_S)


def _line(job: dict[str, Any]) -> str:
    eta = f", about {job['eta_seconds']:.0f} s left" if job.get("eta_seconds") is not None else ""
    return (
        f"{job['id']} {job['status']}: {100 * job['progress']:.1f}% of {job['characters']} characters, "
        f"{job['audio_seconds']:.0f} s of audio{eta}   "
    )


def _status(client: httpx.Client, args: argparse.Namespace) -> int:
    job = _checked(client.get(f"/v1/jobs/{args.id}"))
    print(json.dumps(job, ensure_ascii=False, indent=2) if args.json else _line(job).rstrip())
    if job.get("error"):
        print(f"error: {job['error']}")
    return 0


def _list(client: httpx.Client, args: argparse.Namespace) -> int:
    for job in _checked(client.get("/v1/jobs", params={"limit": args.limit}))["data"]:
        print(_line(job).rstrip())
    return 0


def _fetch(client: httpx.Client, args: argparse.Namespace) -> int:
    _download(client, args.id, args.output)
    if args.subtitles is not None:
        fmt = "srt" if args.subtitles.suffix.lower() == ".srt" else "vtt"
        answer = _checked(client.get(f"/v1/jobs/{args.id}/subtitles", params={"format": fmt}))
        args.subtitles.write_bytes(answer.content)
    return 0


def _download(client: httpx.Client, job_id: str, output: Path) -> None:
    with client.stream("GET", f"/v1/jobs/{job_id}/audio") as answer:
        if answer.status_code >= 400:
            answer.read()
            _checked(answer)
        with output.open("wb") as out:
            for chunk in answer.iter_bytes():
                out.write(chunk)
    print(f"wrote {output} ({output.stat().st_size} bytes)", file=sys.stderr)


def _cancel(client: httpx.Client, args: argparse.Namespace) -> int:
    if args.remove:
        answer = client.delete(f"/v1/jobs/{args.id}")
        if answer.status_code != 204:
            _checked(answer)
        print(f"removed {args.id}")
        return 0
    job = _checked(client.post(f"/v1/jobs/{args.id}/cancel"))
    print(_line(job).rstrip())
    return 0


ACTIONS = {"submit": _submit, "status": _status, "list": _list, "fetch": _fetch, "cancel": _cancel}
