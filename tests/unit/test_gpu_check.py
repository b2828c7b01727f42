"""The GPU check (bench/gpu_check.sh and its Python helpers) without a GPU: lint, the goal verdicts on canned
figures, the pytest-report and wheel-repack helpers, and the --cpu path end to end with the fake voice."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = (ROOT / "bench" / "gpu_check.sh", ROOT / "scripts" / "gpu_wheels.sh")


def _module(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))  # gpu_check.py imports its sibling gpu_summary.py
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


summary = _module(ROOT / "bench" / "gpu_summary.py")
check = _module(ROOT / "bench" / "gpu_check.py")
repack = _module(ROOT / "scripts" / "wheel_repack.py")


def test_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck; scripts/ci-deploy-tools.sh does)")
    done = subprocess.run([shellcheck, *map(str, SCRIPTS)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def _bench(*rows: tuple[str, int, float]) -> dict[str, Any]:
    by_precision: dict[str, list[dict[str, Any]]] = {}
    for precision, size, rate in rows:
        by_precision.setdefault(precision, []).append(
            {"batch_size": size, "audio_s_per_s": rate, "rtf": 1 / rate, "wall_s": 0.1, "peak_mem_mb": 900.0}
        )
    return {"results": [{"precision": p, "batches": b} for p, b in by_precision.items()]}


def _load(mode: str, clients: int, audio_per_s: float, ttfa_p50: float) -> dict[str, Any]:
    report = {
        "requests_per_s": 10.0,
        "audio_seconds_per_s": audio_per_s,
        "latency_s": {"p50": 0.2, "p99": 0.9},
        "ttfa_s": {"p50": ttfa_p50},
        "batch_size_histogram": {"1.0": 3.0, "64.0": 9.0},
        "mean_batch_size": 40.0,
    }
    return {"mode": mode, "clients": clients, "report": report}


def _by_name(goals: list[Any]) -> dict[str, Any]:
    return {g.name: g for g in goals}


def test_goals_met_and_missed_on_canned_figures() -> None:
    results = {
        "device": "cuda",
        "tests": {"passed": 40, "failed": 0, "errors": 0, "skipped_tests": 1},
        "voices": {
            "baker": {
                "bench": _bench(("fp16", 1, 90.0), ("fp16", 64, 3400.0), ("bf16", 64, 2800.0)),
                "load": [
                    _load("batched", 16, 900.0, 0.031),
                    _load("batched", 64, 2500.0, 0.2),
                    _load("unbatched", 64, 400.0, 0.5),
                ],
            },
            "kokoro": {
                "bench": _bench(("fp16", 64, 100.0)),
                "load": [
                    _load("batched", 16, 50.0, 0.09),
                    _load("batched", 64, 60.0, 0.3),
                    _load("unbatched", 64, 20.0, 0.4),
                ],
            },
        },
    }
    goals = _by_name(summary.goals(results))
    assert goals["gpu + parity tests"].status == "met"
    throughput = goals["baker: audio s/s at batch 64"]
    assert (throughput.status, throughput.figure) == ("met", "3400 (fp16)")  # the better precision counts
    assert "kokoro: audio s/s at batch 64" not in goals  # the 3000 goal is Baker's
    assert goals["baker: batching gain at 64 clients"].status == "met"
    assert goals["baker: batching gain at 64 clients"].figure.startswith("6.25x")
    assert goals["baker: first audio p50 at 16 clients"].status == "met"
    assert goals["kokoro: batching gain at 64 clients"].status == "missed"
    assert goals["kokoro: first audio p50 at 16 clients"].figure == "90.0 ms"
    assert goals["kokoro: first audio p50 at 16 clients"].status == "missed"
    table = summary.format_summary(results)
    assert table.splitlines()[-1].startswith("kokoro: first audio p50 at 16 clients")
    assert "CPU mode" not in table


def test_goals_not_measured_say_why() -> None:
    results = {
        "device": "cuda",
        "tests": {"skipped": "time budget"},
        "voices": {"baker": {"bench": {"skipped": "BackendUnavailable: no CUDA"}, "load": []}},
    }
    goals = _by_name(summary.goals(results))
    assert {g.status for g in goals.values()} == {"not measured"}
    assert goals["baker: audio s/s at batch 64"].figure == "skipped: BackendUnavailable: no CUDA"
    assert goals["gpu + parity tests"].figure == "skipped: time budget"


def test_failed_tests_miss_and_are_listed() -> None:
    results = {"device": "cuda", "tests": {"passed": 3, "failed": 1, "errors": 1, "failing": ["t::a", "t::b"]}}
    assert _by_name(summary.goals(results))["gpu + parity tests"].status == "missed"
    assert "failed test: t::b" in summary.format_summary(results)


def test_goals_at_other_points_say_where_they_were_measured() -> None:
    results = {
        "device": "cpu",
        "voices": {
            "baker": {
                "bench": _bench(("bf16", 1, 0.9), ("bf16", 4, 1.1)),
                "load": [
                    _load("batched", 2, 12.0, 0.4),
                    _load("batched", 4, 9.0, 0.6),
                    _load("unbatched", 4, 11.0, 0.7),
                ],
            }
        },
    }
    goals = _by_name(summary.goals(results))
    assert goals["baker: audio s/s at batch 64"].figure == "1 (bf16); measured at 4 items, the goal is at 64"
    gain = goals["baker: batching gain at 64 clients"]
    assert gain.status == "missed"
    assert gain.figure.endswith("measured at 4 clients, the goal is at 64)")
    assert goals["baker: first audio p50 at 16 clients"].figure.startswith("400.0 ms; measured at 2 clients")
    assert summary.format_summary(results).endswith(
        "(CPU mode: these figures exercise the script; they are not GPU results)"
    )


def test_junit_counts(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite tests="4" failures="1" errors="0" skipped="1">'
        '<testcase classname="m" name="ok"/><testcase classname="m" name="bad"><failure message="x"/></testcase>'
        '<testcase classname="m" name="skip"><skipped/></testcase><testcase classname="m" name="ok2"/>'
        "</testsuite></testsuites>"
    )
    counts = check.junit_counts(xml)
    assert counts == {"passed": 2, "failed": 1, "errors": 0, "skipped_tests": 1, "failing": ["m::bad"]}


def test_a_voice_is_unloadable_only_when_every_precision_says_so() -> None:
    fp16_on_cpu = {"precision": "fp16", "skipped": "InvalidControl: precision fp16 needs a CUDA device"}
    timed_out = check.annotate_bench({"results": [fp16_on_cpu]}, rc=124, note="(past 90 s)")
    assert timed_out["partial"] == "gpu_bench.py exit 124 (past 90 s)"
    assert "unloadable" not in timed_out  # bf16 never reported: the server may still run
    unknown = [{"precision": p, "skipped": "UnknownVoice: unknown voice 'kokoro'"} for p in ("fp16", "bf16")]
    gone = check.annotate_bench({"results": unknown}, rc=0, note="")
    assert gone["unloadable"] == "UnknownVoice: unknown voice 'kokoro'"
    assert "partial" not in gone


def _wheel(path: Path) -> Path:
    whl = path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("demo/__init__.py", "X = 1\n")
        z.writestr("demo/big/model.bin", b"\0" * 1000)
        z.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        z.writestr("demo-1.0.dist-info/RECORD", "stale\n")
    return whl


def test_wheel_repack_slims_and_relabels(tmp_path: Path) -> None:
    out = repack.repack(_wheel(tmp_path), tmp_path, ["demo/big/"])
    assert out.name == "demo-1.0+slim-py3-none-any.whl"
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
        metadata = z.read("demo-1.0+slim.dist-info/METADATA").decode()
        record = z.read("demo-1.0+slim.dist-info/RECORD").decode().splitlines()
    assert "demo/big/model.bin" not in names
    assert "Version: 1.0+slim" in metadata
    assert {line.split(",")[0] for line in record} == names
    with pytest.raises(SystemExit, match="nothing matched"):
        repack.repack(_wheel(tmp_path), tmp_path, ["nope/"])


def test_wheel_repack_without_drops_keeps_the_version(tmp_path: Path) -> None:
    out = repack.repack(_wheel(tmp_path), tmp_path / ".." / tmp_path.name, [])
    assert out.name == "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(out) as z:
        assert "demo/big/model.bin" in z.namelist()


@pytest.mark.slow
def test_cpu_mode_end_to_end_with_the_fake_voice(tmp_path: Path) -> None:
    """The real script, --cpu: the fake voice benched and load-tested (batched and unbatched servers), an
    unknown voice skipped cleanly, and the summary table printed last."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    cmd = [
        str(SCRIPTS[0]),
        "--cpu",
        "--no-convert",
        "--out",
        str(out),
        "--voices",
        "fake,nosuchvoice",
        "--stages",
        "bench,load",
        "--precisions",
        "fp32",
        "--batch-sizes",
        "1",
        "3",
        "--clients",
        "2",
        "--unbatched-clients",
        "2",
        "--seconds",
        "1.5",
        "--budget-s",
        "120",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.log", "logs.tar.gz", "results.json", "summary.txt"]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    fake = results["voices"]["fake"]
    (fp32,) = fake["bench"]["results"]
    assert [b["batch_size"] for b in fp32["batches"]] == [1, 3]
    assert all(b["audio_s_per_s"] > 0 for b in fp32["batches"])
    # the whole pool, unbatched, then each device alone (CPU mode: the one device, "cpu")
    assert [(r["mode"], r["clients"]) for r in fake["load"]] == [("batched", 2), ("unbatched", 2), ("cpu", 2)]
    assert "pool vs devices at 2 clients: pool" in done.stdout
    assert all(r["report"]["ok"] > 0 and r["report"]["ttfa_s"]["p50"] > 0 for r in fake["load"])
    missing = results["voices"]["nosuchvoice"]
    assert missing["bench"]["unloadable"].startswith("UnknownVoice: unknown voice 'nosuchvoice'")
    assert [r["skipped"] for r in missing["load"]] == [f"voice not loadable: {missing['bench']['unloadable']}"]
    assert done.stdout.rstrip().endswith((out / "summary.txt").read_text(encoding="utf-8").rstrip())
    assert not list(tmp_path.glob("gpu_check.*"))  # the work folder is removed
