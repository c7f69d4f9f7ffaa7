#!/usr/bin/env bash
# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reproduce the shipped default generator (anyrecon_ros/checkpoints/default):
# train a small VAE and teacher on procedural scenes (training seeds only,
# never the evaluation seeds 0-99), distil the 4-step student, copy it in.
# About 45 minutes on a 2-core CPU. Extra arguments go to `anyrecon train`.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/anyrecon train --out out/train_default --steps 2000 --vae-steps 4000 \
    --validate-every 500 --checkpoint-every 250 "$@"
.venv/bin/anyrecon distill --teacher out/train_default/checkpoint --out out/distill_default \
    --steps 200
rm -rf anyrecon_ros/checkpoints/default
mkdir -p anyrecon_ros/checkpoints
cp -r out/distill_default/checkpoint anyrecon_ros/checkpoints/default
du -sh anyrecon_ros/checkpoints/default
