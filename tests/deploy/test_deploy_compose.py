"""deploy/compose and deploy/grafana: the compose file validates against the Compose specification (schema
vendored by check-jsonschema), everything it mounts exists, Grafana's provisioning points at the dashboard and
its data source, and the dashboard shows what the deployment issue asks for."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.deploy.deploy_helpers import DASHBOARD, DEPLOY, dashboard_exprs, load_yaml, require_tool

COMPOSE = DEPLOY / "compose" / "compose.yaml"


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("check-jsonschema")
    return subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_file_matches_the_compose_spec() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  ttsd:\n    image: ttsd\n    ports: 8080\n    restart_policy: always\n")
    assert _check_compose(bad).returncode != 0


def _compose() -> dict[str, Any]:
    return dict(load_yaml(COMPOSE))


def test_compose_mounts_and_builds_what_exists() -> None:
    compose = _compose()
    base = COMPOSE.parent
    build = compose["services"]["ttsd"]["build"]
    assert (base / build["context"] / build["dockerfile"]).resolve() == (DEPLOY.parent / "Dockerfile.cpu")
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (base / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_scrapes_the_ttsd_service_and_loads_the_rules() -> None:
    compose = _compose()
    prom = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    [job] = [j for j in prom["scrape_configs"] if j["job_name"] == "ttsd"]
    [target] = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in compose["services"]
    assert f"{port}:{port}" in compose["services"][host]["ports"] or port == "8080"
    assert prom["rule_files"] == ["rules/*.yml"]
    assert "/etc/prometheus" in " ".join(compose["services"]["prometheus"]["volumes"])


def test_grafana_provisioning_wires_data_source_and_dashboard() -> None:
    compose = _compose()
    volumes = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"] if v.startswith("."))
    assert volumes["../grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "ttsd.yml")["providers"][0]
    assert volumes["../grafana/dashboards"] == provider["options"]["path"]
    [source] = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    [ds_var] = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
    assert ds_var["query"] == source["type"]
    assert ds_var["current"]["value"] == source["uid"]


def test_dashboard_covers_the_service_signals() -> None:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dash["uid"]
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    joined = "\n".join(e.promql for e in dashboard_exprs(dash))
    wanted = {
        "request rate": "ttsd_request_duration_seconds_count",
        "latency p50": "histogram_quantile(0.5, sum by (route, le) (rate(ttsd_request_duration_seconds_b",
        "latency p95": "histogram_quantile(0.95, sum by (route, le) (rate(ttsd_request_duration_seconds_b",
        "latency p99": "histogram_quantile(0.99, sum by (route, le) (rate(ttsd_request_duration_seconds_b",
        "time to first audio": "ttsd_time_to_first_audio_seconds_bucket",
        "queue depth": "ttsd_queue_depth",
        "queue wait": "ttsd_queue_wait_seconds_bucket",
        "batch size": "ttsd_batch_size",
        "padding ratio": "ttsd_batch_padding_ratio",
        "real-time factor": "ttsd_real_time_factor_bucket",
        "rejects by reason": "sum by (reason) (rate(ttsd_rejected_total",
        "cache hit ratio": 'ttsd_cache_requests_total{job=~".+", instance=~".+", result="hit"}',
        "device": "device",
    }
    for what, fragment in wanted.items():
        assert fragment in joined, f"the dashboard lacks {what}"
    assert any("ttsd_build_info" in e.promql and "device" in e.promql for e in dashboard_exprs(dash))
    for panel in dash["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
