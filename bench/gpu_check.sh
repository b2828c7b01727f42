#!/usr/bin/env bash
# The GPU check in one call (docs/benchmarks.md, "GPU check"): on a machine whose Python has a CUDA torch and
# nothing else of ttsd's, install ttsd and its dependencies from the carried wheel set (scripts/gpu_wheels.sh),
# convert the Baker weights, then run bench/gpu_check.py: the GPU and parity tests on the device, batched
# throughput per precision and batch size, and servers under load. The summary table is printed last.
#
#   bench/gpu_check.sh [--cpu] [--out DIR] [--wheels FILE] [--install|--no-install] [gpu_check.py options...]
#
#   --cpu          DEVICE=cpu: nothing needs CUDA, tiny sizes and durations, the current environment is used
#                  (no install unless --install): for finding the script's own bugs without a GPU
#   --out DIR      where results come back (default: $OUT, else artifacts/gpu_check): summary.txt,
#                  results.json, gpu_check.log (everything printed) and logs.tar.gz (every log and JSON)
#   --wheels FILE  the wheel set (default: .whl/wheels.tar.xz)
#   --no-convert   skip `ttsd model convert` (voices other than baker only)
#   other options go to bench/gpu_check.py (they override the defaults; --help lists them), e.g.
#                  --voices baker --seconds 20 --budget-s 420
# Environment: PYTHON (default python3), DEVICE (cuda or cpu).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-python3}
device=${DEVICE:-cuda}
out=${OUT:-artifacts/gpu_check}
wheels=.whl/wheels.tar.xz
install=""
convert=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) device=cpu ;;
    --out) out="$2"; shift ;;
    --wheels) wheels="$2"; shift ;;
    --install) install=1 ;;
    --no-install) install=0 ;;
    --no-convert) convert=0 ;;
    *) extra+=("$1") ;;
  esac
  shift
done
[ -n "$install" ] || { [ "$device" = cpu ] && install=0 || install=1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
mkdir -p "$out"
rm -f "$out/summary.txt" "$out/results.json" "$out/gpu_check.log" "$out/logs.tar.gz"

install_set() {
  local site="$work/site"
  echo "== installing the wheel set $wheels into $site"
  [ -f "$wheels" ] || { echo "no wheel set at $wheels (run scripts/gpu_wheels.sh, carry .whl)"; return 1; }
  mkdir -p "$work/wheels" "$site"
  tar -xJf "$wheels" -C "$work/wheels" || return 1
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
    "$work"/wheels/*.whl || return 1
  export PYTHONPATH="$site"
  if ! "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir \
    --target "$site" .; then
    echo "ttsd did not build here; using the working tree's src/ instead"
    export PYTHONPATH="$PWD/src:$site"
  fi
}

main() {
  echo "== gpu_check.sh: device $device, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  if [ "$install" = 1 ]; then
    install_set || { echo "install failed"; return 3; }
  else
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    echo "== using the current environment ($PYTHON) with PYTHONPATH=$PYTHONPATH"
  fi
  "$PYTHON" -c 'import sys, torch, ttsd; print("python", sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.cuda.is_available(), "ttsd", ttsd.__file__)' || return 3
  if [ "$convert" = 1 ]; then
    echo "== converting the Baker weights (cached after the first time)"
    "$PYTHON" -m ttsd model convert || return 3
  fi
  local defaults=()
  if [ "$device" = cpu ]; then
    defaults=(--batch-sizes 1 4 --repeats 1 --clients 2 4 --unbatched-clients 4 --seconds 3 --max-batch-size 16
      --budget-s 420 --tests-timeout-s 120 --bench-timeout-s 100)
  fi
  PYTHONUNBUFFERED=1 "$PYTHON" bench/gpu_check.py --no-print --work "$work/run" --device "$device" "${defaults[@]}" \
    "${extra[@]}"
}

main 2>&1 | tee "$work/gpu_check.log"
rc=${PIPESTATUS[0]}
cp "$work/gpu_check.log" "$out/"
if [ -d "$work/run" ]; then
  cp "$work/run/summary.txt" "$work/run/results.json" "$out/" 2>/dev/null
  tar -czf "$out/logs.tar.gz" -C "$work" run gpu_check.log
fi
rm -rf "$work"
echo "== results in $out (exit $rc)"
[ -f "$out/summary.txt" ] && cat "$out/summary.txt"
exit "$rc"
