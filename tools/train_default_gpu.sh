#!/usr/bin/env bash
# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# The default's teacher (tools/train_default.sh) on one borrowed GPU for about
# 8 minutes, from data and dependencies carried in .gpu_carry/; the CPU then
# continues from its checkpoint. Three steps:
#
# 1. Here, once (needs network for pip and about 5 minutes of CPU):
#        tools/train_default_gpu.sh prepare
#    fills .gpu_carry/ (about 40 MB, ignored through .git/info/exclude):
#      wheels/   `pip download` of what the GPU machine's Python lacks:
#                diffusers (its other needs, huggingface-hub, safetensors,
#                numpy, ... are there) and transforms3d;
#      walks/    96 procedural walks of 16 frames (training seeds 1000-1095)
#                exported as posed-scene folders: the procedural scenes are
#                ray-cast with Open3D, whose wheel (99.6 MB) is larger than
#                all that may travel (64 MiB with the repository);
#      taef2/    the TAEF2 weights, scenes/ lf_bin_books and lf_bin_basket
#                (../shared beside the checkout does not travel).
# 2. On the GPU machine (the repository root is the working directory, $OUT
#    the folder whose files come back):
#        tools/train_default_gpu.sh            (device run, carry .gpu_carry)
#    installs the wheels into /tmp/site, trains with --device cuda, a batch
#    of 32 and 14 sample workers for MINUTES (7.5) minutes, and writes the
#    checkpoint without its optimizer state (a fresh AdamW on the CPU) as
#    $OUT/checkpoint.tar.part-* (15 MiB each), with loss.jsonl, the log and
#    the last validation grid.
# 3. Here: tools/train_default_gpu.sh unpack FOLDER_WITH_THE_PARTS
#    restores out/train_default/checkpoint; tools/train_default.sh then
#    continues training from its step on the CPU and distils.
set -euo pipefail
cd "$(dirname "$0")/.."
# Settings (environment): the GPU run's, and smaller ones for a smoke run on a CPU
# (CARRY=/tmp/carry WALKS=2 ... prepare; DEVICE=cpu BATCH=2 WORKERS=1 MINUTES=0.2
# PY=.venv/bin/python OUT=/tmp/out ... train).
CARRY=${CARRY:-.gpu_carry}
SHARED=${SHARED:-../shared}
WALKS=${WALKS:-96}
MINUTES=${MINUTES:-7.5}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-32}
WORKERS=${WORKERS:-14}
PY=${PY:-python3}

prepare() {
    mkdir -p "$CARRY/wheels" "$CARRY/scenes"
    if [[ "$CARRY" != /* ]]; then   # inside the repository: never committed
        grep -qx "/$CARRY/" .git/info/exclude 2>/dev/null || echo "/$CARRY/" >> .git/info/exclude
    fi
    .venv/bin/python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        -d "$CARRY/wheels" diffusers==0.42.1 transforms3d==0.4.2
    .venv/bin/python -m anyrecon_ros.model.training.walks "$CARRY/walks" --walks "$WALKS" --frames 16
    rm -rf "$CARRY/taef2" && cp -r "$SHARED/weights/taef2" "$CARRY/taef2"
    for scene in lf_bin_books lf_bin_basket; do
        rm -rf "${CARRY:?}/scenes/$scene" && cp -r "$SHARED/data/train/$scene" "$CARRY/scenes/"
    done
    chmod -R u+w "$CARRY"
    du -sh "$CARRY"
    echo "run on the GPU: tools/train_default_gpu.sh, carrying $CARRY"
}

train_on_gpu() {
    : "${OUT:?OUT must name the folder that comes back}"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$CARRY"/wheels/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    local run=${RUN:-out/train_gpu}
    set +e
    "$PY" -m anyrecon_ros.cli.main train --out "$run" --taef2 "$CARRY/taef2" --model medium \
        --procedural-walks "$CARRY/walks" --scene-folder "$CARRY/scenes/lf_bin_books" \
        --scene-folder "$CARRY/scenes/lf_bin_basket" --procedural-share 0.75 \
        --fill-condition --unseen-weight 3 --ema 0.999 --device "$DEVICE" --batch-size "$BATCH" \
        --workers "$WORKERS" --steps 1000000 --max-minutes "$MINUTES" --log-every 50 \
        --validate-every 1000 --checkpoint-every 500 2>&1 | tee "$OUT/train_gpu.log"
    local status=${PIPESTATUS[0]}
    set -e
    cp "$run/loss.jsonl" "$OUT/" 2>/dev/null || true
    local grid
    grid=$(ls "$run"/validation_*.png 2>/dev/null | tail -1 || true)
    [ -n "$grid" ] && cp "$grid" "$OUT/"
    if [ -f "$run/checkpoint/training_state.json" ]; then
        tar -C "$run" --exclude checkpoint/optimizer.pt -cf - checkpoint \
            | split -b 15M - "$OUT/checkpoint.tar.part-"
        ls -la "$OUT"
    fi
    return "$status"
}

unpack() {
    local parts=${1:?usage: tools/train_default_gpu.sh unpack FOLDER_WITH_THE_PARTS}
    local target=${TARGET:-out/train_default}
    if [ -e "$target/checkpoint" ] && [ -z "${FORCE:-}" ]; then
        echo "$target/checkpoint exists; FORCE=1 replaces it" >&2
        exit 1
    fi
    rm -rf "$target/checkpoint"
    mkdir -p "$target"
    cat "$parts"/checkpoint.tar.part-* | tar -C "$target" -xf -
    echo "unpacked: $(cat "$target/checkpoint/training_state.json"); continue with" \
        "tools/train_default.sh"
}

case "${1:-train}" in
    prepare) prepare ;;
    train) train_on_gpu ;;
    unpack) unpack "${2:-}" ;;
    *) echo "usage: tools/train_default_gpu.sh [prepare|train|unpack FOLDER]" >&2; exit 2 ;;
esac
