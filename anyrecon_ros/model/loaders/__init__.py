# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Loaders of official weights (Wan2.1-I2V, AnyRecon LoRA)."""
