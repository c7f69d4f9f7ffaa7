# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Sampling and the generator facade.

``pipeline``: ``AnyReconPipeline``, a diffusers ``DiffusionPipeline``
(transformer, vae, scheduler) that generates views chunk by chunk;
``scheduling``: the 4-step distilled and N-step flow-matching schedules;
``generator``: ``ViewGenerator`` and ``GeneratorSettings`` (checkpoint,
device, backend), ``save_checkpoint`` / ``load_checkpoint`` (diffusers
``save_pretrained`` folders with ``model_index.json``, plus ``anyrecon.json``).
"""
