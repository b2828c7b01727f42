"""Imports go one way: a module may import only from its own layer or the layers below it (docs/architecture.md).

Layers, bottom first. Lazy imports inside functions count too: they are still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ttsd"

# module prefix -> layer rank (longest prefix wins). Lower ranks may not import higher ones.
LAYERS: dict[str, float] = {
    "ttsd": 0,  # the package root (__init__, __main__, py.typed)
    "ttsd.config": 0,
    "ttsd.errors": 0,
    "ttsd.controls": 0,
    "ttsd.paths": 0,
    "ttsd.logs": 1,
    "ttsd.allocator": 1,
    "ttsd.text": 1,
    "ttsd.audio": 1,
    "ttsd.metrics": 1,
    "ttsd.subtitles": 1,
    "ttsd.voices": 2,
    "ttsd.serving": 3,
    "ttsd.pipeline": 4,
    # Inside the pipeline, one way too (an import cycle among its modules fails): value types and single-purpose
    # stages, then the request plan and the per-sentence step, the lanes, the job, the session, and the two entry
    # points.
    "ttsd.pipeline.request": 4.0,
    "ttsd.pipeline.cache": 4.0,
    "ttsd.pipeline.admission": 4.0,
    "ttsd.pipeline.timeline": 4.0,
    "ttsd.pipeline.output": 4.0,
    "ttsd.pipeline.plan": 4.1,
    "ttsd.pipeline.lane": 4.2,
    "ttsd.pipeline.job": 4.3,
    "ttsd.pipeline.session": 4.35,  # a text-in session: jobs per chunk of sentences; opened by the engine
    "ttsd.pipeline.engine": 4.4,
    "ttsd.pipeline.local": 4.4,
    "ttsd.jobs": 4.5,  # long-form jobs: over the engine, under the API
    "ttsd.api": 5,
    "ttsd.bootstrap": 6,
    "ttsd.commands": 7,
    "ttsd.cli": 7,
}
# The package root re-exports the Python API (load_voice, Voice): it may reach the voices layer.
ROOT_EXPORTS = {"ttsd.pipeline.local", "ttsd.voices.base"}


def _rank(module: str) -> float:
    best = ""
    for prefix in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return LAYERS[best]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "ttsd" or name.startswith("ttsd.")}


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_imports_go_one_way(path: Path) -> None:
    module = _module_name(path)
    upward = [
        name
        for name in _imports(path)
        if _rank(name) > _rank(module) and not (module in ("ttsd", "ttsd.__main__") and name in ROOT_EXPORTS)
    ]
    if module == "ttsd.__main__":
        upward = [name for name in upward if name != "ttsd.cli"]
    assert not upward, f"{module} (layer {_rank(module)}) imports from higher layers: {sorted(upward)}"
