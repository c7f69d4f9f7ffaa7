# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Loaders of official weights.

``official``: the local Wan2.1-I2V base model (checked for missing files
before anything is read) and AnyRecon's LoRA, merged into the transformer's
weights; local folders and safetensors only.
"""
