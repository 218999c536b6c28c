#!/usr/bin/env bash
# Run ON the device machine (16 cores; see benchmarks/README.md), from the repository root,
# with carry = ["benchmarks/.work/device", "python/gpuproxy/_core.abi3.so"]:
#   bash benchmarks/device/run.sh [SCENARIO ARGS ...]   (default: throughput + connections)
# Results are labelled with the machine (<date>-<scenario>-<label>.json) and copied to $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=$PWD/benchmarks/.work/device
OUT=${OUT:-/tmp/bench-out}
mkdir -p "$OUT"
PY=$(command -v python3)
# The image's python3 (3.12) plus our pinned wheels in a folder of their own, first on the path.
if [ ! -f "$D/site/.done" ]; then
  "$PY" -m pip install -q --no-index --no-deps --target "$D/site" "$D"/wheels/*.whl && touch "$D/site/.done"
fi
export PATH="$D/bin:$PATH" LD_LIBRARY_PATH="$D/lib" PYTHONPATH="$D/site:$PWD/python"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | grep -oE 'H100|H200|A100|L40S' | tr 'A-Z' 'a-z')
label="${gpu:-device}-$(nproc)c"
run() {
  timeout 480 "$PY" benchmarks/run.py "$@" --label "$label" --no-readme
  cp benchmarks/results/*-"$label"* "$OUT"/ 2>/dev/null
}
if [ $# -gt 0 ]; then
  run "$@"
else
  run throughput --quick --peers direct,nginx,python-baseline,gpuproxy,gpuproxy-off
  run connections --peers nginx,gpuproxy --targets 10000,100000
fi
for log in benchmarks/.work/*/gpuproxy*.log; do tail -c 2000 "$log" > "$OUT/last-gpuproxy.log"; done 2>/dev/null
ls -la "$OUT"
