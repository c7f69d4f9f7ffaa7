#!/usr/bin/env bash
# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Evaluate a generator checkpoint on procedural scenes whose seeds training
# never draws (0-99 are reserved for evaluation), and on redkitchen when it is
# beside the project. Usage: tools/evaluate_checkpoint.sh CHECKPOINT [STEPS] [OUT]
set -euo pipefail
checkpoint=$1
steps=${2:-4}
out=${3:-out/eval_checkpoint}
for seed in 1 2 3; do
  .venv/bin/anyrecon eval --scene "synthetic:$seed" --checkpoint "$checkpoint" \
      --steps "$steps" --out "$out/synthetic_$seed" > /dev/null
done
if [ -d ../shared/data/redkitchen ]; then
  .venv/bin/anyrecon eval --scene ../shared/data/redkitchen --checkpoint "$checkpoint" \
      --steps "$steps" --out "$out/redkitchen" > /dev/null
fi
.venv/bin/python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
synthetic = [json.loads(p.read_text()) for p in sorted(out.glob('synthetic_*/metrics.json'))]
views = [row for metrics in synthetic for row in metrics['per_view']]
def mean(method, key):
    values = [row[method][key] for row in views if row[method][key] is not None]
    return sum(values) / len(values)
print(f'procedural seeds 1-3: {len(views)} target views')
for method in ('render', 'inpaint', 'anyrecon'):
    print(f'  {method:8s} psnr {mean(method, "psnr"):6.2f}  psnr_unseen '
          f'{mean(method, "psnr_unseen"):6.2f}  ssim {mean(method, "ssim"):.3f}')
kitchen = out / 'redkitchen' / 'metrics.json'
if kitchen.is_file():
    methods = json.loads(kitchen.read_text())['methods']
    print('redkitchen:')
    for method, figures in methods.items():
        print(f'  {method:8s} psnr {figures["psnr"]:6.2f}  psnr_unseen '
              f'{figures["psnr_unseen"]:6.2f}  ssim {figures["ssim"]:.3f}')
PY
.venv/bin/python tools/autoencoder_ceiling.py "$checkpoint"
