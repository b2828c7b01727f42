"""Dockerfile.cpu and Dockerfile.gpu: hadolint, the image rules of the deployment issue, and no drift between
the two images or from the Makefile's install recipe (scripts/install.sh).

No Docker engine runs on the development or CI machines, so the images are not built here; these checks read
the files. Building them is documented in docs/deployment.md.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.deploy_helpers import DEPLOY, REPO, require_tool

DOCKERFILES = {"cpu": REPO / "Dockerfile.cpu", "gpu": REPO / "Dockerfile.gpu"}
INSTALL_SH = REPO / "scripts" / "install.sh"


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (enough of the Dockerfile grammar for
    files that use the default escape character)."""
    logical, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    out, stage = [], -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, args.strip(), stage))
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    count = max(i.stage for i in instructions) + 1
    return [[i for i in instructions if i.stage == s] for s in range(count)]


def install_options() -> set[str]:
    """The options scripts/install.sh's argument loop accepts."""
    text = INSTALL_SH.read_text(encoding="utf-8")
    return set(re.findall(r"^\s+(--[a-z-]+)\)", text, flags=re.MULTILINE))


def install_calls(text: str) -> list[list[str]]:
    """Every invocation of scripts/install.sh in a shell fragment, as argument lists (first = the script)."""
    calls: list[list[str]] = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            if token in (";", "&&", "||", "|", "&"):
                scripts = [j for j, word in enumerate(command) if word.endswith("scripts/install.sh")]
                calls.extend(command[j:] for j in scripts[:1])
                command = []
            else:
                command.append(token)
    return calls


@pytest.fixture(params=sorted(DOCKERFILES))
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _instructions(flavour: str) -> list[Instruction]:
    return parse(DOCKERFILES[flavour].read_text(encoding="utf-8"))


def test_hadolint_passes() -> None:
    hadolint = require_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--config", str(DEPLOY / "hadolint.yaml"), *map(str, DOCKERFILES.values())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter really lints: a root, curl-piping, cache-leaving Dockerfile fails."""
    hadolint = require_tool("hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install torch\nRUN cd /tmp && apt-get install curl\n", encoding="utf-8")
    result = subprocess.run(
        [hadolint, "--config", str(DEPLOY / "hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    for rule in ("DL3006", "DL3013", "DL3042", "DL3003"):
        assert rule in result.stdout, result.stdout


def test_multi_stage_with_venv_copied_into_a_clean_final_stage(flavour: str) -> None:
    parts = stages(_instructions(flavour))
    assert len(parts) >= 2, "a builder stage and a runtime stage"
    builder_name = parts[0][0].args.split()[-1]
    final = parts[-1]
    copies = [i.args for i in final if i.keyword == "COPY"]
    assert any(f"--from={builder_name}" in c and "/opt/venv" in c for c in copies), copies
    # /opt/ttsd holds the converted weights (TTSD_MODEL_DIR) and the compiled grammar (XDG_CACHE_HOME).
    assert any(f"--from={builder_name}" in c and c.split()[-1] == "/opt/ttsd" for c in copies), copies
    final_runs = " ".join(i.args for i in final if i.keyword == "RUN")
    for forbidden in ("pip install", "install.sh", "build-essential", "gcc", "g++", "python3.11-venv"):
        assert forbidden not in final_runs, f"{forbidden!r} in the final stage of Dockerfile.{flavour}"
    if "apt-get install" in final_runs:
        assert "--no-install-recommends" in final_runs
        assert "rm -rf /var/lib/apt/lists/*" in final_runs


def test_runtime_contract(flavour: str) -> None:
    final = stages(_instructions(flavour))[-1]
    by_kw: dict[str, list[str]] = {}
    for i in final:
        by_kw.setdefault(i.keyword, []).append(i.args)
    user = by_kw["USER"][-1].split(":")[0]
    assert user not in ("root", "0"), "runs as a non-root user"
    assert "8080" in by_kw["EXPOSE"][-1].split()
    assert len(by_kw["HEALTHCHECK"]) == 1
    assert "/healthz" in by_kw["HEALTHCHECK"][0]
    env = " ".join(by_kw["ENV"])
    assert "TTSD_MODEL_DIR=/opt/ttsd/models" in env
    assert "TTSD_PORT=8080" in env
    expected_device = {"cpu": "TTSD_DEVICE=cpu", "gpu": "TTSD_DEVICE=cuda"}[flavour]
    assert expected_device in env
    assert "serve" in (by_kw.get("CMD", [""])[-1] + by_kw.get("ENTRYPOINT", [""])[-1])


def test_builder_runs_the_shared_install_recipe_and_converts_weights(flavour: str) -> None:
    """The image installs exactly what `make install` installs: scripts/install.sh, with options it accepts,
    converting the voice's weights into TTSD_MODEL_DIR inside the image (no --no-convert), never pip
    directly."""
    builder = stages(_instructions(flavour))[0]
    runs = [i.args for i in builder if i.keyword == "RUN"]
    calls = [c for r in runs for c in install_calls(r)]
    assert len(calls) == 1, f"Dockerfile.{flavour} calls scripts/install.sh once: {calls}"
    options = {w for w in calls[0][1:] if w.startswith("--")}
    assert options <= install_options(), f"options install.sh does not accept: {options - install_options()}"
    assert "--no-convert" not in options
    assert "--editable" not in options
    assert "--dev" not in options
    assert any("PYTHON=/opt/venv/bin/python" in r and "install.sh" in r for r in runs)
    assert not any(re.search(r"\bpip3? install\b", r) for r in runs), "pip only through install.sh"
    env = " ".join(i.args for i in builder if i.keyword == "ENV")
    assert "TTSD_MODEL_DIR=/opt/ttsd/models" in env, "weights are converted inside the image"
    copied = " ".join(i.args for i in builder if i.keyword == "COPY")
    for needed in ("pyproject.toml", "README.md", "scripts/install.sh", "src"):
        assert needed in copied


def test_makefile_uses_the_same_recipe() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    calls = install_calls(makefile)
    assert calls, "the Makefile installs through scripts/install.sh"
    for call in calls:
        options = {w for w in call[1:] if w.startswith("--")}
        assert options <= install_options()


def _skeleton(flavour: str) -> list[str]:
    """The instruction sequence with the parts allowed to differ masked: base image, how Python is provided
    (apt on the CUDA base), torch index, labels, device environment, the healthcheck's start period, and the GPU
    image's Kokoro PyTorch weights (``install.sh --kokoro-torch``: only the CUDA backend reads them)."""
    out: list[str] = []
    for i in _instructions(flavour):
        if i.keyword in ("LABEL", "ARG"):
            continue
        args = i.args
        if i.keyword == "FROM":
            args = args.split(" AS ")[-1].lower() if " AS " in args else ""
        elif i.keyword == "RUN" and ("apt-get" in args or "useradd" in args):
            args = "useradd" if "useradd" in args else "apt"
            if out and out[-1] == "RUN apt" and args == "useradd":
                out.pop()
        elif i.keyword == "RUN":
            args = re.sub(r"python3(\.11)?\b", "python", args)
            args = re.sub(r'--torch-index "\$\{TORCH_INDEX\}"\s*', "", args)
            args = args.replace(" --kokoro-torch", "")
        elif i.keyword == "ENV":
            args = " ".join(
                w for w in args.split()
                if not w.startswith(("TTSD_DEVICE=", "NVIDIA_", "DEBIAN_FRONTEND="))
            )  # fmt: skip
            if not args:
                continue
        elif i.keyword == "HEALTHCHECK":
            args = re.sub(r"--start-period=\S+ ", "", args)
        out.append(f"{i.keyword} {' '.join(args.split())}")
    return [line for line in out if line != "RUN apt"]


def test_cpu_and_gpu_images_do_not_drift_apart() -> None:
    cpu, gpu = _skeleton("cpu"), _skeleton("gpu")
    assert cpu == gpu, "\n".join(
        f"{a!r:80} | {b!r}" for a, b in zip(cpu + [""] * len(gpu), gpu + [""] * len(cpu), strict=False) if a != b
    )


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: everything excluded unless named"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for flavour in DOCKERFILES:
        for i in _instructions(flavour):
            if i.keyword == "COPY" and "--from=" not in i.args:
                for src in shlex.split(i.args)[:-1]:
                    assert src in allowed, f"Dockerfile.{flavour} copies {src}, which .dockerignore excludes"
    for heavy in (".venv", ".git", "tests"):
        assert heavy not in allowed
