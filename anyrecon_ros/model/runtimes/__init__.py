# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Runtimes of the denoiser step: export, ONNX Runtime, TensorRT."""
