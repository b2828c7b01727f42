"""deploy/k8s: every kustomization renders, every object validates offline against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields fail) and the KEDA ScaledObject against KEDA's CRD schema
(the validator of npm's @kubernetes-models/keda, generated from KEDA's CRDs) plus a strict schema of its spec
keys; then the properties the elastic CPU/GPU design depends on are checked on the rendered objects.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_helpers import (
    ADAPTER_CONFIG,
    K8S,
    KUSTOMIZATIONS,
    load_yaml,
    render,
    require_keda_models,
    require_module,
    require_tool,
)
from ttsd.config import Settings

HERE = Path(__file__).parent
# Oldest and newest Kubernetes minor versions the manifests must be valid for (preStop `sleep` needs 1.30).
K8S_VERSIONS = ("1.30.0", "1.37.0")
CRD_KINDS = {"ScaledObject"}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {str(d.relative_to(K8S)): render(d) for d in KUSTOMIZATIONS}


@pytest.fixture(scope="module")
def full(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The whole application as `kubectl apply -k deploy/k8s` creates it."""
    return rendered["."]


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(docs: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """The TTSD_* settings a Deployment's container gets from its ConfigMap."""
    ref = _container(deployment)["envFrom"][0]["configMapRef"]["name"]
    return dict(_one(docs, "ConfigMap", ref)["data"])


def test_every_kustomization_renders(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert set(rendered) >= {".", "base", "cpu", "gpu", "service", "monitoring"}
    for name, docs in rendered.items():
        assert docs, f"{name} renders nothing"


def test_a_broken_kustomization_fails_to_render(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n", encoding="utf-8")
    with pytest.raises(subprocess.CalledProcessError):
        render(tmp_path)


def _validate(doc: dict[str, Any], version: str) -> None:
    kv = require_module("kubernetes_validate")
    kv.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(rendered: dict[str, list[dict[str, Any]]], version: str) -> None:
    checked = 0
    for name, docs in rendered.items():
        for doc in docs:
            if doc["kind"] in CRD_KINDS:
                continue
            try:
                _validate(doc, version)
            except Exception as exc:  # the validator's own error types; the message is what matters
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} invalid for {version}: {exc}")
            checked += 1
    assert checked >= 10


def test_the_validator_rejects_a_misspelt_field(full: list[dict[str, Any]]) -> None:
    deployment = json.loads(json.dumps(_one(full, "Deployment", "ttsd-cpu")))
    _container(deployment)  # shape check
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(Exception, match="readinesProbe"):
        _validate(deployment, K8S_VERSIONS[-1])


def _keda_validate(objects: list[dict[str, Any]]) -> list[str]:
    """Run KEDA's CRD validator (node) on each object; returns one error message or "ok" per object."""
    module = require_keda_models()
    node = require_tool("node")
    result = subprocess.run(
        [node, str(HERE / "keda_validate.mjs"), str(module)],
        input=json.dumps(objects), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_scaled_object_validates_against_kedas_crd_schema(full: list[dict[str, Any]]) -> None:
    scaled = [d for d in full if d["kind"] == "ScaledObject"]
    assert len(scaled) == 1
    assert _keda_validate(scaled) == ["ok"]


def test_kedas_validator_rejects_a_broken_scaled_object(full: list[dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(_one(full, "ScaledObject", "ttsd-gpu")))
    broken["spec"]["minReplicaCount"] = "zero"
    del broken["spec"]["triggers"][0]["type"]
    [message] = _keda_validate([broken])
    assert "minReplicaCount" in message
    assert "type" in message


def test_scaled_object_matches_the_strict_keda_schema(full: list[dict[str, Any]]) -> None:
    """KEDA's CRD accepts unknown keys (the API server prunes them silently), so a misspelt `minReplicas`
    would pass the CRD check and do nothing: this schema, written from KEDA's documentation, rejects them."""
    jsonschema = require_module("jsonschema")
    schema = json.loads((HERE / "schemas" / "keda-scaledobject-v2.schema.json").read_text(encoding="utf-8"))
    scaled = _one(full, "ScaledObject", "ttsd-gpu")
    jsonschema.validate(scaled, schema)
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["minReplicas"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, schema)
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["triggers"][1]["metadata"]["desiredReplica"] = "1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, schema)


# ----------------------------------------------------------------------------------------------------
# The design, checked on the rendered objects


def test_probes_and_drain_budget(full: list[dict[str, Any]]) -> None:
    drain = Settings.model_fields["drain_timeout_s"].default
    for name in ("ttsd-cpu", "ttsd-gpu"):
        deployment = _one(full, "Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        c = _container(deployment)
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["startupProbe"]["httpGet"]["path"] in ("/healthz", "/readyz")
        pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        env_drain = float(_env(full, deployment)["TTSD_DRAIN_TIMEOUT_S"])
        assert env_drain == drain, "the manifests state the service's drain default"
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + 1
        assert pod["terminationGracePeriodSeconds"] <= pre_stop + drain + 15, "no needlessly slow scale-down"
        port = str(c["ports"][0]["containerPort"])
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == port
        assert annotations["prometheus.io/path"] == "/metrics"
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{name} {kind}"
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_cpu_pool_scales_on_queue_depth_and_cpu_with_one_replica_always_on(
    full: list[dict[str, Any]],
) -> None:
    cpu = _one(full, "Deployment", "ttsd-cpu")
    assert _env(full, cpu)["TTSD_DEVICE"] == "cpu"
    assert "nvidia.com/gpu" not in _container(cpu)["resources"]["limits"]
    hpa = _one(full, "HorizontalPodAutoscaler", "ttsd-cpu")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ttsd-cpu",
    }
    assert hpa["spec"]["minReplicas"] == 1
    metrics = hpa["spec"]["metrics"]
    assert metrics[0]["type"] == "Pods", "queue depth per pod is the primary metric"
    queue_metric = metrics[0]["pods"]["metric"]["name"]
    assert {"type": "Resource", "name": "cpu"} in [
        {"type": m["type"], "name": m.get("resource", {}).get("name")} for m in metrics
    ]
    served = [r["name"]["as"] for r in load_yaml(ADAPTER_CONFIG)["rules"]]
    assert queue_metric in served, "prometheus-adapter serves the metric the HPA reads"
    assert "replicas" not in cpu["spec"], "the HPA owns the replica count"


def test_cpu_pool_workers_times_threads_match_its_cpu_request(full: list[dict[str, Any]]) -> None:
    """The worker pool's plan is set explicitly (a container sees the node's cores) and fills the CPU request."""
    cpu = _one(full, "Deployment", "ttsd-cpu")
    env = _env(full, cpu)
    workers, threads = int(env["TTSD_WORKERS_PER_DEVICE"]), int(env["TTSD_THREADS"])
    request = _container(cpu)["resources"]["requests"]["cpu"]
    assert workers * threads == int(request)


def test_gpu_pool_holds_a_gpu_only_when_scaled_up(full: list[dict[str, Any]]) -> None:
    gpu = _one(full, "Deployment", "ttsd-gpu")
    pod = gpu["spec"]["template"]["spec"]
    c = _container(gpu)
    assert _env(full, gpu)["TTSD_DEVICE"] == "cuda"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    assert gpu["spec"]["replicas"] == 0
    so = _one(full, "ScaledObject", "ttsd-gpu")
    assert so["spec"]["scaleTargetRef"]["name"] == "ttsd-gpu"
    assert so["spec"]["minReplicaCount"] == 0
    assert so["spec"]["maxReplicaCount"] >= 1
    types = sorted(t["type"] for t in so["spec"]["triggers"])
    assert types == ["cron", "prometheus"]
    query = next(t for t in so["spec"]["triggers"] if t["type"] == "prometheus")["metadata"]["query"]
    namespace = _one(full, "Namespace", "ttsd")["metadata"]["name"]
    assert "ttsd_queue_depth" in query
    assert f'namespace="{namespace}"' in query


def test_one_service_in_front_of_both_pools(full: list[dict[str, Any]]) -> None:
    services = [d for d in full if d["kind"] == "Service"]
    assert len(services) == 1
    selector = services[0]["spec"]["selector"]
    target = services[0]["spec"]["ports"][0]["targetPort"]
    for name in ("ttsd-cpu", "ttsd-gpu"):
        deployment = _one(full, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"the Service selects {name}'s pods"
        assert target in [p["name"] for p in _container(deployment)["ports"]]
    cpu_labels = _one(full, "Deployment", "ttsd-cpu")["spec"]["selector"]["matchLabels"]
    gpu_labels = _one(full, "Deployment", "ttsd-gpu")["spec"]["selector"]["matchLabels"]
    assert cpu_labels != gpu_labels, "each pool's Deployment and PDB select only its own pods"


def test_each_pool_has_a_disruption_budget_on_its_own_pods(full: list[dict[str, Any]]) -> None:
    for name in ("ttsd-cpu", "ttsd-gpu"):
        pdb = _one(full, "PodDisruptionBudget", name)
        pod_labels = _one(full, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert "maxUnavailable" in pdb["spec"], "minAvailable would block drains of a 1-replica pool"


def test_every_object_lands_in_the_ttsd_namespace(full: list[dict[str, Any]]) -> None:
    for doc in full:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "ttsd", doc["metadata"]["name"]
