"""Shared helpers for the deploy checks: finding the external tools, rendering kustomizations, and collecting
every PromQL expression the dashboard, the rules, the adapter and the KEDA trigger rely on.

External tools come from scripts/ci-deploy-tools.sh. A missing tool skips the test, unless
``TTSD_REQUIRE_DEPLOY_TOOLS=1`` (CI), where it fails: a check must not turn green by not running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
RULE_FILES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ttsd.json"
ADAPTER_CONFIG = K8S / "monitoring" / "prometheus-adapter-config.yaml"
SCALED_OBJECT = K8S / "gpu" / "scaledobject.yaml"
# Every directory with a kustomization.yaml; each must render on its own.
KUSTOMIZATIONS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


def tools_dir() -> Path:
    """Where scripts/ci-deploy-tools.sh puts tools that are neither apt nor pip packages (node modules)."""
    default = Path.home() / ".cache" / "ttsd-deploy-tools"
    return Path(os.environ.get("TTSD_DEPLOY_TOOLS_DIR", default))


def _missing(what: str) -> None:
    message = f"{what} not found: run scripts/ci-deploy-tools.sh"
    if os.environ.get("TTSD_REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(message + " (TTSD_REQUIRE_DEPLOY_TOOLS=1)")
    pytest.skip(message)


def require_tool(name: str) -> str:
    """Path of an executable on PATH or next to this Python (the project venv's bin/)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)
    if found is None:
        _missing(name)
        raise AssertionError("unreachable")
    return found


def require_module(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        _missing(f"Python module {name}")
        raise AssertionError("unreachable") from None


def require_keda_models() -> Path:
    """The KEDA ScaledObject model of the npm package @kubernetes-models/keda (its validator is compiled from
    KEDA's CRD OpenAPI schema)."""
    node = require_tool("node")
    del node
    model = tools_dir() / "node" / "node_modules" / "@kubernetes-models" / "keda" / "keda.sh" / "v1alpha1"
    module = model / "ScaledObject.js"
    if not module.is_file():
        _missing(f"npm package @kubernetes-models/keda under {tools_dir() / 'node'}")
    return module


def kustomize_command() -> list[str]:
    """``kustomize build`` if installed, else kubectl's embedded kustomize (``kubectl kustomize``)."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return [require_tool("kubectl"), "kustomize"]


def render(directory: Path) -> list[dict[str, Any]]:
    """The manifests a kustomization renders to (raises CalledProcessError with kustomize's message)."""
    out = subprocess.run(
        [*kustomize_command(), str(directory)], check=True, capture_output=True, text=True, timeout=120
    )
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------------
# PromQL sources


@dataclass(frozen=True, slots=True)
class Expr:
    """One PromQL expression and where it comes from (for failure messages)."""

    source: str
    promql: str


# Values Grafana substitutes at query time; the test substitutes the same kind of thing.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
}


def dashboard_exprs(dashboard: dict[str, Any] | None = None) -> list[Expr]:
    """Every target expression of every panel, the dashboard's variables replaced by their "All" values."""
    dash = dashboard if dashboard is not None else json.loads(DASHBOARD.read_text(encoding="utf-8"))
    all_values = {
        v["name"]: v.get("allValue") or ".*"
        for v in dash.get("templating", {}).get("list", [])
        if v.get("type") == "query"
    }
    exprs = []
    for panel in _panels(dash["panels"]):
        for target in panel.get("targets", []):
            promql = target["expr"]
            for var, value in GRAFANA_VARIABLES.items():
                promql = promql.replace(var, value)
            for name, value in all_values.items():
                promql = promql.replace("${" + name + "}", value).replace("$" + name, value)
            assert "$" not in promql, f"unsubstituted variable in panel {panel['title']!r}: {promql}"
            exprs.append(Expr(f"dashboard panel {panel['title']!r} {target['refId']}", promql))
    return exprs


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def rule_exprs() -> list[Expr]:
    """Recording rules whole; alert rules split at their top-level comparison, each side on its own (an
    alert's full expression is empty while it does not fire, which says nothing of the metrics it reads)."""
    exprs = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule["alert"]
                if "record" in rule:
                    exprs.append(Expr(f"{path.name} record {name}", rule["expr"]))
                    continue
                for i, side in enumerate(split_comparison(rule["expr"])):
                    if not _is_number(side):
                        exprs.append(Expr(f"{path.name} alert {name} operand {i}", side))
    return exprs


def adapter_exprs(labels: dict[str, str]) -> list[Expr]:
    """Each adapter rule's seriesQuery, and its metricsQuery with the templates filled in the way the
    adapter does for a per-pod request in ``labels['namespace']`` for pod ``labels['pod']``."""
    exprs = []
    for i, rule in enumerate(load_yaml(ADAPTER_CONFIG)["rules"]):
        series_name = rule["seriesQuery"].split("{", 1)[0]
        exprs.append(Expr(f"adapter rule {i} seriesQuery", rule["seriesQuery"]))
        matchers = f'namespace="{labels["namespace"]}",pod=~"{labels["pod"]}"'
        promql = (
            rule["metricsQuery"]
            .replace("<<.Series>>", series_name)
            .replace("<<.LabelMatchers>>", matchers)
            .replace("<<.GroupBy>>", "pod")
        )
        assert "<<" not in promql, f"unknown adapter template in {promql}"
        exprs.append(Expr(f"adapter rule {i} metricsQuery", promql))
    return exprs


def keda_exprs() -> list[Expr]:
    """The queries of the GPU pool's prometheus triggers."""
    so = load_yaml(SCALED_OBJECT)
    return [
        Expr(f"ScaledObject trigger {i}", t["metadata"]["query"])
        for i, t in enumerate(so["spec"]["triggers"])
        if t["type"] == "prometheus"
    ]


_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s+bool)?")


def split_comparison(promql: str) -> list[str]:
    """Split ``lhs OP rhs`` at comparison operators outside parentheses, braces, brackets and strings."""
    parts, depth, start, i, quote = [], 0, 0, 0, ""
    text = promql.strip()
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (m := _COMPARISON.match(text, i)) and not _is_label_op(text, i):
            parts.append(text[start:i].strip())
            i = m.end()
            start = i
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts


def _is_label_op(text: str, i: int) -> bool:
    # `=~` / `!~` only occur inside braces (depth > 0), so at depth 0 every comparison match is real, except a
    # `!` that starts `!~`, which cannot appear at depth 0 either. Kept as a guard for odd spacing.
    return text.startswith("!~", i) or text.startswith("=~", i)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
