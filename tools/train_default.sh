#!/usr/bin/env bash
# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reproduce the shipped default generator (anyrecon_ros/checkpoints/default):
# a 4 M-weight transformer (--model medium) in the latent space of the
# pretrained TAEF2 autoencoder (frozen, 32 latent channels), trained on
# procedural walks (training seeds 1000 and up, never the evaluation seeds
# 0-99) and the two real RGB-D scenes of ../shared/data/train (lf_bin_books,
# lf_bin_basket; the RGB-only scenes there have no depth to render, and
# ../shared/data/redkitchen is evaluation data, refused), conditioned on the
# Telea-filled render, with the loss on the pixels the render did not cover
# weighted 3x and an EMA (0.999) of the weights as the checkpoint; then DMD
# distillation into the 4-step student, copied in once it is <= 40 MB.
#
# Resumable: the teacher writes a checkpoint every 100 steps into
# out/train_default/checkpoint, and running this script again continues from
# the last one (STEPS=12000 tools/train_default.sh trains on to step 12000).
# A GPU run's checkpoint unpacked there (tools/train_default_gpu.sh unpack)
# is continued the same way. The distillation is redone only when the
# teacher's checkpoint changed. On the 2-core CPU: about 1 s a teacher step
# (8000 steps: about 2.5 hours), 2.2 s a distillation step. Run it in the
# background: nohup tools/train_default.sh > out/train_default.log 2>&1 &
# Extra arguments go to `anyrecon train`.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
STEPS=${STEPS:-8000}
DISTILL_STEPS=${DISTILL_STEPS:-200}
MAX_BYTES=$((40 * 1000 * 1000))
TRAIN=out/train_default
DISTILL=out/distill_default
SCENES=(--scene-folder "$SHARED/data/train/lf_bin_books"
        --scene-folder "$SHARED/data/train/lf_bin_basket" --procedural-share 0.75)

.venv/bin/anyrecon train --out "$TRAIN" --taef2 "$SHARED/weights/taef2" --model medium \
    "${SCENES[@]}" --fill-condition --unseen-weight 3 --ema 0.999 \
    --steps "$STEPS" --log-every 50 --validate-every 500 --checkpoint-every 100 "$@"

teacher=$(cat "$TRAIN/checkpoint/training_state.json")
if [ ! -f "$DISTILL/checkpoint/model_index.json" ] \
        || [ "$(cat "$DISTILL/teacher_state.json" 2>/dev/null)" != "$teacher" ]; then
    rm -rf "$DISTILL"
    .venv/bin/anyrecon distill --teacher "$TRAIN/checkpoint" --out "$DISTILL" \
        --steps "$DISTILL_STEPS" "${SCENES[@]}"
    echo "$teacher" > "$DISTILL/teacher_state.json"
fi

bytes=$(du -sb "$DISTILL/checkpoint" | cut -f1)
if [ "$bytes" -gt "$MAX_BYTES" ]; then
    echo "train_default: $DISTILL/checkpoint is $bytes bytes, over $MAX_BYTES; not copied" >&2
    exit 1
fi
rm -rf anyrecon_ros/checkpoints/default
mkdir -p anyrecon_ros/checkpoints
cp -r "$DISTILL/checkpoint" anyrecon_ros/checkpoints/default
# How the default samples (docs/training.md, "Sampling the default"): from step
# START_STEP of the schedule on the noised Telea-filled render, the output
# blended BLEND with it.
.venv/bin/python - "${START_STEP:-3}" "${BLEND:-0.7}" <<'PY'
import json, sys
path = 'anyrecon_ros/checkpoints/default/model_index.json'
index = json.load(open(path))
index.update(start_step=int(sys.argv[1]), condition_blend=float(sys.argv[2]))
json.dump(index, open(path, 'w'), indent=2, sort_keys=True)
open(path, 'a').write('\n')
PY
echo "default checkpoint: $bytes bytes (limit $MAX_BYTES)"
