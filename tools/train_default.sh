#!/usr/bin/env bash
# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reproduce the shipped default generator (anyrecon_ros/checkpoints/default),
# in two stages:
#
# 1. The teacher: a 4 M-weight transformer (--model medium) in the latent
#    space of the pretrained TAEF2 autoencoder (frozen, 32 latent channels),
#    trained with flow matching on procedural walks (training seeds 1000 and
#    up, never the evaluation seeds 0-99) and the two real RGB-D scenes of
#    ../shared/data/train (lf_bin_books, lf_bin_basket; the RGB-only scenes
#    there have no depth to render, and ../shared/data/redkitchen is
#    evaluation data, refused), conditioned on the Telea-filled render, with
#    the loss on the pixels the render did not cover weighted 3x and an EMA
#    (0.999) of the weights as the checkpoint. The shipped one stopped at
#    STEPS=2900.
# 2. The refinement: from the teacher's checkpoint, trained on the one step
#    the default samples (--start-step 3: the condition noised to the
#    4-step schedule's level 3, the clean view the target), conditioned on
#    the render filled from the surface behind each hole (--fill-condition
#    background). This takes the place of DMD distillation: the default
#    never samples from pure noise. Copied in once it is <= 40 MB, with the
#    blend settings that say how it samples.
#
# Resumable: each stage writes a checkpoint every 100 (250) steps into
# out/train_default/checkpoint (out/refine_default/checkpoint), and running
# this script again continues from the last one (STEPS=12000
# tools/train_default.sh trains the teacher on to step 12000). The
# refinement is redone when the teacher's checkpoint changed. A GPU run's
# teacher checkpoint unpacked there (tools/train_default_gpu.sh unpack) is
# continued the same way. On the 2-core CPU: about 1 s a step in either
# stage. Run it in the background:
# nohup tools/train_default.sh > out/train_default.log 2>&1 &
# Extra arguments go to the teacher's `anyrecon train`.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
STEPS=${STEPS:-2900}
REFINE_STEPS=${REFINE_STEPS:-3974}
MAX_BYTES=$((40 * 1000 * 1000))
TRAIN=out/train_default
REFINE=out/refine_default
SCENES=(--scene-folder "$SHARED/data/train/lf_bin_books"
        --scene-folder "$SHARED/data/train/lf_bin_basket" --procedural-share 0.75)

.venv/bin/anyrecon train --out "$TRAIN" --taef2 "$SHARED/weights/taef2" --model medium \
    "${SCENES[@]}" --fill-condition telea --unseen-weight 3 --ema 0.999 \
    --steps "$STEPS" --log-every 50 --validate-every 500 --checkpoint-every 100 "$@"

teacher=$(cat "$TRAIN/checkpoint/training_state.json")
if [ "$(cat "$REFINE/teacher_state.json" 2>/dev/null)" != "$teacher" ]; then
    rm -rf "$REFINE"
    mkdir -p "$REFINE"
    echo "$teacher" > "$REFINE/teacher_state.json"
fi
.venv/bin/anyrecon train --out "$REFINE" --init "$TRAIN/checkpoint" \
    "${SCENES[@]}" --fill-condition background --start-step 3 --unseen-weight 3 \
    --ema 0.999 --learning-rate 2e-4 --steps "$REFINE_STEPS" --log-every 100 \
    --validate-every 1000 --checkpoint-every 250

# The pipeline only: the optimizer state and trained (not averaged) weights stay in out/.
SHIPPED=(anyrecon.json model_index.json scheduler transformer vae)
bytes=$(cd "$REFINE/checkpoint" && du -cb "${SHIPPED[@]}" | tail -1 | cut -f1)
if [ "$bytes" -gt "$MAX_BYTES" ]; then
    echo "train_default: $REFINE/checkpoint is $bytes bytes, over $MAX_BYTES; not copied" >&2
    exit 1
fi
rm -rf anyrecon_ros/checkpoints/default
mkdir -p anyrecon_ros/checkpoints/default
(cd "$REFINE/checkpoint" && cp -r "${SHIPPED[@]}" "$OLDPWD/anyrecon_ros/checkpoints/default/")
# How the default samples (docs/training.md, "Sampling the default"): from step
# START_STEP of the schedule on the noised render, its holes filled from the
# surface behind them (condition_fill background), the output blended BLEND
# with that fill where the memory saw the pixel and HOLE_BLEND (edge, deep,
# length as a share of the width) in the holes.
.venv/bin/python - "${START_STEP:-3}" "${BLEND:-0.7}" "${HOLE_BLEND:-1,0.7,0.0625}" <<'PY'
import json, sys
path = 'anyrecon_ros/checkpoints/default/model_index.json'
index = json.load(open(path))
index.update(condition_fill='background', start_step=int(sys.argv[1]),
             condition_blend=float(sys.argv[2]),
             hole_blend=[float(value) for value in sys.argv[3].split(',')])
# Loaded from --init, the parts remember where from; the absent image encoder is no part.
for key in ('_name_or_path', 'image_encoder', 'image_processor'):
    index.pop(key, None)
json.dump(index, open(path, 'w'), indent=2, sort_keys=True)
open(path, 'a').write('\n')
for part in ('transformer', 'vae'):
    path = f'anyrecon_ros/checkpoints/default/{part}/config.json'
    config = json.load(open(path))
    config.pop('_name_or_path', None)
    json.dump(config, open(path, 'w'), indent=2, sort_keys=True)
    open(path, 'a').write('\n')
PY
echo "default checkpoint: $bytes bytes (limit $MAX_BYTES)"
