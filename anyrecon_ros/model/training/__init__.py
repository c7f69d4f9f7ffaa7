# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training of the generator.

``data``: training samples (``SampleMaker``, ``DataConfig``, the paper's
conditioning sampling, ``encode_sample``); ``flow_matching``: the
flow-matching loss and ``Trainer`` (``anyrecon train``); ``distillation``:
the DMD ``Distiller`` into the 4-step student (``anyrecon distill``).
"""
