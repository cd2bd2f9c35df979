#!/usr/bin/env bash
# The checks that need a CUDA device, in one run: the GPU-marked tests, the engine benchmark
# (claims/s and MFU against a batch-size-1 loop), and a full audit of the bundled consistent
# liar on the GPU through the CLI. Figures and logs go to $OUT (default runs/gpu).
#
#     bash bench/gpu.sh
#
# Without an installed package it runs from the source tree (PYTHONPATH). Each step has its own
# time limit so that one slow step cannot eat the others' time.
set -u
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"

echo "== GPU tests"
timeout 180 python3 -m pytest -m gpu -q tests/test_engine.py 2>&1 | tee "$OUT/tests.log" || status=1

echo "== engine benchmark"
timeout 240 python3 bench/engine.py --device cuda 2>&1 | grep -v -E "it/s\]|Loading weights|Writing model" | tee "$OUT/engine.log" || status=1

echo "== audit of the bundled consistent liar on the GPU"
timeout 240 python3 -m consistency.cli audit --device cuda --quiet --out "$OUT/audit" 2>&1 | tee "$OUT/audit.log" || status=1
python3 - "$OUT/audit/results.json" <<'EOF' | tee -a "$OUT/audit.log"
import json, sys
results = json.load(open(sys.argv[1]))
print("device in config:", results["config"]["device"], "| timings (s):",
      {k: round(v, 1) for k, v in results["timings"].items() if isinstance(v, (int, float))})
EOF
exit $status
