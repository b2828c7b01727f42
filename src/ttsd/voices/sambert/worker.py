"""Out-of-process host for ModelScope's Sambert-HifiGan pipeline, for when ttsd's Python cannot import it.

ModelScope's TTS front end (ttsfrd) is built for Python <= 3.10 only, and ttsd needs 3.11+. So the sambert
voice can start this file under another interpreter (the ``python`` option) and talk to it over pipes. This
file must NOT import ttsd (that interpreter has only ModelScope's stack) and must run on Python 3.8+.

Protocol, one JSON object per line:

* worker -> ttsd, once at start: ``{"ok": true, "voices": [...], "model_dir": "..."}`` or
  ``{"ok": false, "error": "...", "missing": <module name or null>}`` (then it exits 1).
* ttsd -> worker: ``{"input": "<text>", "voice": <speaker or null>}``; worker -> ttsd:
  ``{"ok": true, "wav": "<base64 of the pipeline's output_wav>"}`` or ``{"ok": false, "error": "..."}``.
* End of input: the worker exits 0.

Everything the libraries print goes to stderr: the protocol owns the original stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import IO, Any


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    args.device = _select_device(args.device)
    _unshadow()
    proto = _claim_stdout()
    try:
        pipe = _build(args)
    except Exception as exc:  # the message is the whole diagnosis ttsd can show
        missing = _missing_module(exc)
        _send(proto, {"ok": False, "error": f"{type(exc).__name__}: {exc}", "missing": missing})
        return 1
    _send(proto, {"ok": True, "voices": _voices(pipe), "model_dir": args.model_dir})
    for line in sys.stdin:
        if line.strip():
            _send(proto, _serve(pipe, line))
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="ModelScope model id or local model directory")
    parser.add_argument("--device", default="cpu", help="ModelScope device: cpu, gpu, gpu:N")
    parser.add_argument("--offline", action="store_true", help="resolve a model id from the cache only")
    parser.add_argument("--cache-dir", default=None, help="ModelScope cache directory")
    return parser.parse_args(argv)


def _unshadow() -> None:
    """Drop this file's directory from ``sys.path``: files there (e.g. ``pipeline.py``) could shadow
    the real packages of the same name."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]


def _claim_stdout() -> IO[str]:
    """Keep the real stdout for the protocol; point fd 1 (C++ prints included) at stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto


def _build(args: argparse.Namespace) -> Any:
    from modelscope.pipelines import pipeline
    from modelscope.utils.constant import Tasks

    model_dir = args.model
    if not os.path.isdir(model_dir):
        from modelscope.hub.snapshot_download import snapshot_download

        model_dir = snapshot_download(args.model, cache_dir=args.cache_dir, local_files_only=args.offline)
    args.model_dir = model_dir
    return pipeline(task=Tasks.text_to_speech, model=model_dir, device=args.device)


def _select_device(device: str) -> str:
    """Make ``device`` the one the networks land on; returns the name to give ModelScope.

    KAN-TTS puts its networks on ``cuda:0`` whenever CUDA is visible, whatever the pipeline's ``device``, so
    the choice is made with CUDA_VISIBLE_DEVICES (this process only, before torch is imported).
    """
    kind, _, index = device.partition(":")
    if kind == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return "cpu"
    if index:
        os.environ["CUDA_VISIBLE_DEVICES"] = index
        return kind + ":0"
    return device


def _missing_module(exc: BaseException) -> str | None:
    """The module an ImportError in ``exc``'s chain names (ModelScope wraps them in RuntimeError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImportError):
            return seen.name or str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _voices(pipe: Any) -> list[str]:
    get_voices = getattr(getattr(pipe, "model", None), "get_voices", None)
    if not callable(get_voices):
        return []
    voices, cfg = get_voices()
    if voices:
        return [str(name) for name in voices]
    return [str(name) for name in (cfg or {}).get("voices", [])]


def _serve(pipe: Any, line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
        kwargs = {"voice": request["voice"]} if request.get("voice") else {}
        output = pipe(input=request["input"], **kwargs)
        wav = output["output_wav"]
        return {"ok": True, "wav": base64.b64encode(bytes(wav)).decode("ascii")}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _send(proto: IO[str], message: dict[str, Any]) -> None:
    proto.write(json.dumps(message, ensure_ascii=True) + "\n")
    proto.flush()


if __name__ == "__main__":
    sys.exit(main())
