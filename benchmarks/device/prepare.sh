#!/usr/bin/env bash
# Run HERE (a machine with the registries) before running benchmarks on the device machine,
# which reaches nothing: wheels of the runtime dependencies for its Python (3.12), and the
# load-generator and nginx binaries with the one library its image lacks (LuaJIT, for wrk).
# Everything lands in benchmarks/.work/device/ (~35 MiB), carried with `carry`.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=benchmarks/.work/device
PY=${PY:-.venv/bin/python}
mkdir -p "$D/wheels" "$D/bin" "$D/lib"
# The same versions as this venv, as wheels for CPython 3.12 on x86_64 Linux.
PINS=$($PY -m pip freeze | grep -iE '^(litestar|granian|msgspec|asyncpg|redis|pyjwt|bcrypt|websockets|stripe|cryptography|httpx|uvloop)==')
$PY -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$D/wheels" $PINS
$PY - <<'PYEOF'
import sys; sys.path.insert(0, "benchmarks")
from _tools import ensure_nginx, ensure_oha, ensure_wrk
for tool in (ensure_wrk(), ensure_nginx(), ensure_oha()):
    assert tool, "a tool could not be installed"
PYEOF
cp "$(command -v wrk)" /usr/sbin/nginx "$D/bin/"
cp "$(ls benchmarks/.work/cargo/bin/oha ~/.cargo/bin/oha 2>/dev/null | head -1)" "$D/bin/oha"
strip "$D/bin/oha" || true
cp -L /lib/x86_64-linux-gnu/libluajit-5.1.so.2 "$D/lib/"
test -f python/gpuproxy/_core.abi3.so || { echo "build the extension first (make develop)"; exit 1; }
du -sh "$D"
