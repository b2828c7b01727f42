"""Prometheus side of deploy/: promtool checks the rules and both configurations, promtool unit-tests the
alerts, and every ttsd metric name any dashboard, rule, adapter or KEDA query uses is one ttsd exports
(tests/deploy/test_prometheus_live.py then proves the queries return data from a real server)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_helpers import (
    DEPLOY,
    RULE_FILES,
    adapter_exprs,
    dashboard_exprs,
    keda_exprs,
    load_yaml,
    require_tool,
    rule_exprs,
    split_comparison,
)
from ttsd.metrics import Metrics

PROM = DEPLOY / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), *args], capture_output=True, text=True, timeout=120)


def test_rule_files_pass_promtool() -> None:
    assert len(RULE_FILES) >= 2
    result = _promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - record: a:b\n        expr: sum(rate(x[5m])\n")
    assert _promtool("check", "rules", str(bad)).returncode != 0


def test_alert_unit_tests_pass() -> None:
    result = _promtool("test", "rules", str(PROM / "tests" / "ttsd-alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_prometheus_config_passes_promtool() -> None:
    result = _promtool("check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """Debian's Prometheus is built without Kubernetes service discovery, so its promtool cannot parse
    `kubernetes_sd_configs`. If it cannot, the discovery block is swapped for a static target and everything
    else (relabelling, rule files) is still checked; a promtool that knows Kubernetes SD checks the
    original."""
    original = PROM / "prometheus-k8s.yml"
    result = _promtool("check", "config", str(original))
    if result.returncode != 0 and "kubernetes_sd_configs not found" in result.stdout + result.stderr:
        config = load_yaml(original)
        for job in config["scrape_configs"]:
            assert job.pop("kubernetes_sd_configs"), "the ttsd job discovers pods"
            job["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
        (tmp_path / "rules").symlink_to(PROM / "rules")
        copy = tmp_path / "prometheus-k8s.yml"
        copy.write_text(yaml.safe_dump(config), encoding="utf-8")
        result = _promtool("check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr


def _relabel(config: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus relabelling (the replace/keep actions used here; regexes are fully anchored, as in
    Prometheus). Returns None when the target is dropped."""
    out = dict(labels)
    for step in config:
        action = step.get("action", "replace")
        value = step.get("separator", ";").join(out.get(s, "") for s in step.get("source_labels", []))
        match = re.fullmatch(step.get("regex", "(.*)"), value)
        if action == "keep":
            if not match:
                return None
        elif action == "replace":
            if match:
                replacement = re.sub(r"\$(\d+)", r"\\\1", step.get("replacement", "$1"))
                out[step["target_label"]] = match.expand(replacement)
        else:
            raise AssertionError(f"relabel action {action} not modelled by this test")
    return out


def test_kubernetes_scrape_job_yields_the_labels_the_adapter_and_dashboards_use() -> None:
    job = load_yaml(PROM / "prometheus-k8s.yml")["scrape_configs"][0]
    pod = {
        "__address__": "10.0.0.7",
        "__meta_kubernetes_namespace": "ttsd",
        "__meta_kubernetes_pod_name": "ttsd-gpu-6d9f-abcde",
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "ttsd",
        "__meta_kubernetes_pod_label_ttsd_io_pool": "gpu",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_port": "8080",
        "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
    }
    labels = _relabel(job["relabel_configs"], pod)
    assert labels is not None
    assert labels["__address__"] == "10.0.0.7:8080"
    assert labels["__metrics_path__"] == "/metrics"
    assert (labels["namespace"], labels["pod"], labels["pool"]) == ("ttsd", "ttsd-gpu-6d9f-abcde", "gpu")
    assert (
        _relabel(job["relabel_configs"], {**pod, "__meta_kubernetes_pod_annotation_prometheus_io_scrape": ""}) is None
    )
    other_app = {**pod, "__meta_kubernetes_pod_label_app_kubernetes_io_name": "redis"}
    assert _relabel(job["relabel_configs"], other_app) is None


def _exported_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",)}.get(family.type, ())
        names.update(family.name + s for s in suffixes)
    return names


def test_every_ttsd_metric_a_query_uses_is_exported() -> None:
    exported = _exported_names()
    exprs = dashboard_exprs() + rule_exprs() + adapter_exprs({"namespace": "ttsd", "pod": "p"}) + keda_exprs()
    assert len(exprs) > 30
    for expr in exprs:
        for name in re.findall(r"\bttsd_[a-z0-9_]+", expr.promql):
            assert name in exported, f"{expr.source}: {name} is not a metric of src/ttsd/metrics.py"


def test_split_comparison() -> None:
    assert split_comparison('max by (pod) (x{a=~"b>c"}) > 384') == ['max by (pod) (x{a=~"b>c"})', "384"]
    assert split_comparison("(a > 1) / b >= 0.5") == ["(a > 1) / b", "0.5"]
    assert split_comparison("up == 0") == ["up", "0"]
    assert split_comparison("rate(x[5m])") == ["rate(x[5m])"]
