"""The TTSD_* settings the images, the compose file and the manifests set are real Settings fields with valid
values (Settings ignores unknown variables, so a misspelt one would silently do nothing), and
docs/deployment.md documents every setting."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.deploy.deploy_helpers import DEPLOY, K8S, REPO, render
from ttsd.config import Settings

SOURCES = [
    REPO / "Dockerfile.cpu",
    REPO / "Dockerfile.gpu",
    DEPLOY / "compose" / "compose.yaml",
    *sorted(K8S.rglob("*.yaml")),
]
FIELDS = {f"TTSD_{name.upper()}" for name in Settings.model_fields}


def _names(path: Path) -> set[str]:
    return set(re.findall(r"\bTTSD_[A-Z0-9_]+", path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_ttsd_variable_is_a_setting(path: Path) -> None:
    unknown = _names(path) - FIELDS
    assert not unknown, f"{path.name} sets variables Settings does not know: {sorted(unknown)}"


@pytest.mark.parametrize("pool", ["cpu", "gpu"])
def test_each_pools_settings_parse(pool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(K8S / pool)
    [config] = [d for d in docs if d["kind"] == "ConfigMap"]
    for name in [n for n in os.environ if n.startswith("TTSD_")]:
        monkeypatch.delenv(name)
    for key, value in config["data"].items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.device == {"cpu": "cpu", "gpu": "cuda"}[pool]
    assert settings.port == 8080


def test_deployment_doc_lists_every_setting() -> None:
    doc = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    missing = sorted(name for name in FIELDS if f"`{name}`" not in doc)
    assert not missing, f"docs/deployment.md does not document {missing}"
