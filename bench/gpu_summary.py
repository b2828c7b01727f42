"""The GPU check's results (``results.json``, written by ``bench/gpu_check.py``) as a table and a goal verdict.

Goals (issue 14): Baker >= 3000 audio seconds per second at batch 64 (the better of the precisions measured);
batching gain >= 5x (audio s/s of the batched server over a ``max_batch_size=1`` server) at 64 clients; time to
first audio <= 50 ms p50 at 16 clients. Plus: the GPU and parity tests pass. A goal whose figure is missing is
"not measured", with the reason, never met.

    python bench/gpu_summary.py results.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THROUGHPUT_GOAL = {"baker": 3000.0}  # audio s / s at batch 64, per voice that has one
THROUGHPUT_BATCH = 64
GAIN_GOAL = 5.0
GAIN_CLIENTS = 64
TTFA_GOAL_S = 0.050
TTFA_CLIENTS = 16


@dataclass(frozen=True, kw_only=True)
class Goal:
    name: str
    target: str
    figure: str
    status: str  # "met", "missed" or "not measured"


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def _point_note(measured: int, goal: int, unit: str) -> str:
    return "" if measured == goal else f"; measured at {measured} {unit}, the goal is at {goal}"


def throughput_goal(voice: str, bench: dict[str, Any], floor: float) -> Goal:
    """The best audio s/s at batch 64 (else at the largest batch run, said so in the figure)."""
    name, target = f"{voice}: audio s/s at batch {THROUGHPUT_BATCH}", f">= {floor:.0f}"
    if "skipped" in bench:
        return Goal(name=name, target=target, figure=f"skipped: {bench['skipped']}", status="not measured")
    rows = [(b["batch_size"], b["audio_s_per_s"], r["precision"]) for r in bench.get("results", [])
            for b in r.get("batches", [])]  # fmt: skip
    if not rows:
        return Goal(name=name, target=target, figure="no batch run", status="not measured")
    size = THROUGHPUT_BATCH if any(r[0] == THROUGHPUT_BATCH for r in rows) else max(r[0] for r in rows)
    best, precision = max((r[1], r[2]) for r in rows if r[0] == size)
    figure = f"{best:.0f} ({precision}){_point_note(size, THROUGHPUT_BATCH, 'items')}"
    return Goal(name=name, target=target, figure=figure, status=_verdict(best >= floor))


def _reports(load: list[dict[str, Any]], mode: str) -> dict[int, dict[str, Any]]:
    return {run["clients"]: run["report"] for run in load if run.get("mode") == mode and "report" in run}


def gain_goal(voice: str, load: list[dict[str, Any]]) -> Goal:
    """Batched over ``max_batch_size=1`` audio s/s at 64 clients (else the most clients both servers saw)."""
    name, target = f"{voice}: batching gain at {GAIN_CLIENTS} clients", f">= {GAIN_GOAL:.0f}x"
    batched, single = _reports(load, "batched"), _reports(load, "unbatched")
    common = set(batched) & set(single)
    if not common:
        return Goal(
            name=name, target=target, figure="batched and max_batch_size=1 runs not both done", status="not measured"
        )
    clients = GAIN_CLIENTS if GAIN_CLIENTS in common else max(common)
    fast, slow = batched[clients]["audio_seconds_per_s"], single[clients]["audio_seconds_per_s"]
    if slow <= 0:
        return Goal(name=name, target=target, figure="max_batch_size=1 run produced no audio", status="not measured")
    gain = fast / slow
    figure = f"{gain:.2f}x ({fast:.0f} vs {slow:.0f} audio s/s{_point_note(clients, GAIN_CLIENTS, 'clients')})"
    return Goal(name=name, target=target, figure=figure, status=_verdict(gain >= GAIN_GOAL))


def ttfa_goal(voice: str, load: list[dict[str, Any]]) -> Goal:
    """p50 time to first streamed audio at 16 clients (else at the fewest clients run)."""
    name, target = f"{voice}: first audio p50 at {TTFA_CLIENTS} clients", f"<= {TTFA_GOAL_S * 1000:.0f} ms"
    batched = {c: r for c, r in _reports(load, "batched").items() if "p50" in r.get("ttfa_s", {})}
    if not batched:
        return Goal(name=name, target=target, figure="no streamed run", status="not measured")
    clients = TTFA_CLIENTS if TTFA_CLIENTS in batched else min(batched)
    p50 = batched[clients]["ttfa_s"]["p50"]
    figure = f"{p50 * 1000:.1f} ms{_point_note(clients, TTFA_CLIENTS, 'clients')}"
    return Goal(name=name, target=target, figure=figure, status=_verdict(p50 <= TTFA_GOAL_S))


def tests_goal(tests: dict[str, Any]) -> Goal:
    name, target = "gpu + parity tests", "all pass"
    if "skipped" in tests:
        return Goal(name=name, target=target, figure=f"skipped: {tests['skipped']}", status="not measured")
    bad = tests.get("failed", 0) + tests.get("errors", 0)
    figure = f"{tests.get('passed', 0)} passed, {bad} failed, {tests.get('skipped_tests', 0)} skipped"
    if tests.get("passed", 0) == 0 and bad == 0:
        return Goal(name=name, target=target, figure=figure, status="not measured")
    return Goal(name=name, target=target, figure=figure, status=_verdict(bad == 0))


def goals(results: dict[str, Any]) -> list[Goal]:
    found = [tests_goal(results.get("tests", {"skipped": "not run"}))]
    for voice, data in results.get("voices", {}).items():
        if voice in THROUGHPUT_GOAL:
            found.append(throughput_goal(voice, data.get("bench", {"skipped": "not run"}), THROUGHPUT_GOAL[voice]))
        load = data.get("load", [])
        found += [gain_goal(voice, load), ttfa_goal(voice, load)]
    return found


def _bench_lines(voice: str, bench: dict[str, Any]) -> list[str]:
    if "skipped" in bench:
        return [f"{voice:<8} skipped: {bench['skipped']}"]
    lines = [f"{voice:<8} (partial: {bench['partial']})"] if "partial" in bench else []
    if "unservable" in bench:
        lines.append(f"{voice:<8} ({bench['unservable']})")
    for r in bench.get("results", []):
        if "skipped" in r:
            lines.append(f"{voice:<8} {r['precision']:<6} skipped: {r['skipped']}")
        for b in r.get("batches", []):
            lines.append(
                f"{voice:<8} {r['precision']:<6} {b['batch_size']:>5} {b['audio_s_per_s']:>11.1f} {b['rtf']:>9.5f}"
                f" {b['wall_s'] * 1000:>9.1f} {b['peak_mem_mb']:>9.0f}"
            )
    return lines


def _ms(d: dict[str, float], key: str) -> str:
    return f"{d[key] * 1000:.0f}" if key in d else "-"


def _load_lines(voice: str, load: list[dict[str, Any]]) -> list[str]:
    lines = []
    for run in load:
        label = f"{voice:<8} {run['mode']:<9} {run['clients']:>4}"
        if "report" not in run:
            lines.append(f"{label}  skipped: {run.get('skipped', 'no report')}")
            continue
        r = run["report"]
        hist = " ".join(f"<={k}:{v:.0f}" for k, v in r.get("batch_size_histogram", {}).items() if v) or "-"
        mean = "-" if r.get("mean_batch_size") is None else f"{r['mean_batch_size']:.1f}"
        lines.append(
            f"{label} {r['requests_per_s']:>7.1f} {r['audio_seconds_per_s']:>8.1f} {_ms(r['latency_s'], 'p50'):>6}"
            f" {_ms(r['latency_s'], 'p99'):>6} {_ms(r['ttfa_s'], 'p50'):>6} {mean:>5}"
            f"  {hist}"
        )
    return lines


def _pool_lines(voice: str, load: list[dict[str, Any]]) -> list[str]:
    """The worker pool against its devices one by one, at the same client count: pool / sum of the devices."""
    devices = {run["mode"]: run for run in load if run.get("mode") not in ("batched", "unbatched") and "report" in run}
    if not devices:
        return []
    clients = next(iter(devices.values()))["clients"]
    pool = _reports(load, "batched").get(clients)
    each = " + ".join(f"{mode} {run['report']['audio_seconds_per_s']:.1f}" for mode, run in devices.items())
    total = sum(run["report"]["audio_seconds_per_s"] for run in devices.values())
    if pool is None:
        return [f"{voice:<8} pool vs devices at {clients} clients: {each} (no pool run)"]
    ratio = pool["audio_seconds_per_s"] / total if total > 0 else 0.0
    return [
        f"{voice:<8} pool vs devices at {clients} clients: pool {pool['audio_seconds_per_s']:.1f} audio s/s; "
        f"one device at a time: {each} (pool / sum {ratio:.2f})"
    ]


def format_summary(results: dict[str, Any]) -> str:
    """Bench rows, load rows, then the goals (the last lines of the check's output)."""
    device = results.get("device", "?")
    lines = [f"== GPU check on {device} ({results.get('hardware', '?')}), {results.get('elapsed_s', 0):.0f} s"]
    lines.append(f"{'voice':<8} {'prec':<6} {'batch':>5} {'audio s/s':>11} {'RTF':>9} {'wall ms':>9} {'peak MB':>9}")
    for voice, data in results.get("voices", {}).items():
        lines += _bench_lines(voice, data.get("bench", {"skipped": "not run"}))
    lines.append(
        f"{'voice':<8} {'server':<9} {'cli':>4} {'req/s':>7} {'audio/s':>8} {'p50ms':>6} {'p99ms':>6}"
        f" {'ttfa50':>6} {'meanB':>5}  batch sizes"
    )
    for voice, data in results.get("voices", {}).items():
        lines += _load_lines(voice, data.get("load", []))
        lines += _pool_lines(voice, data.get("load", []))
    failing = results.get("tests", {}).get("failing", [])
    lines += [f"failed test: {name}" for name in failing[:20]]
    lines.append(f"{'goal':<44} {'target':<9} {'status':<13} figure")
    for g in goals(results):
        lines.append(f"{g.name:<44} {g.target:<9} {g.status:<13} {g.figure}")
    if not str(device).startswith("cuda"):
        lines.append("(CPU mode: these figures exercise the script; they are not GPU results)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: gpu_summary.py results.json", file=sys.stderr)
        return 2
    print(format_summary(json.loads(Path(args[0]).read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
