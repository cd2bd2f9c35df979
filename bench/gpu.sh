#!/usr/bin/env bash
# The checks that need a CUDA device, in one run: the GPU-marked tests, the GPU elicitation
# benchmark (bench/gpu.py: claims/s and MFU at the 1.1B and 8B shapes with and without the
# compiled forward, the ratio to a batch-size-1 loop, P(yes) compiled vs uncompiled in bf16 and
# float32), and a full audit of the bundled consistent liar on the GPU through the CLI. Figures
# and logs go to $OUT (default runs/gpu).
#
#     bash bench/gpu.sh           # on a GPU machine
#     bash bench/gpu.sh --tiny    # anywhere: a tiny shape on the CPU, to check that it all runs
#
# Without an installed package it runs from the source tree (PYTHONPATH). Each step has its own
# time limit so that one slow step cannot eat the others' time.
set -u
OUT=${OUT:-runs/gpu}
PYTHON=${PYTHON:-python3}
TINY=""
[ "${1:-}" = "--tiny" ] && TINY="--tiny"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

if [ -z "$TINY" ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
fi
"$PYTHON" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"

echo "== GPU tests (pytest -m gpu)"
# rc 5: no test collected, which is not a failure here
timeout 240 "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider tests 2>&1 | tail -n 15 | tee "$OUT/tests.log"
rc=${PIPESTATUS[0]}
[ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && status=1

echo "== GPU elicitation: uncompiled vs compiled, naive loop, P(yes) gaps"
timeout 420 "$PYTHON" bench/gpu.py $TINY 2>&1 | grep -v -E "it/s\]|Loading weights|Writing model" | tee "$OUT/gpu_bench.log"
[ "${PIPESTATUS[0]}" -ne 0 ] && status=1

if [ -z "$TINY" ]; then
  echo "== audit of the bundled consistent liar on the GPU"
  timeout 240 "$PYTHON" -m consistency.cli audit --device cuda --quiet --out "$OUT/audit" 2>&1 | tee "$OUT/audit.log"
  [ "${PIPESTATUS[0]}" -ne 0 ] && status=1
  "$PYTHON" - "$OUT/audit/results.json" <<'EOF' | tee -a "$OUT/audit.log"
import json, sys
results = json.load(open(sys.argv[1]))
print("device in config:", results["config"]["device"], "| timings (s):",
      {k: round(v, 1) for k, v in results["timings"].items() if isinstance(v, (int, float))})
EOF
fi
echo "gpu.sh: status $status (logs in $OUT)"
exit $status
