# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Runtimes of the denoiser step.

``export``: the ONNX export of the denoiser step and the VAE halves, checked
against PyTorch; ``denoisers``: ``OnnxRuntimeDenoiser`` and ``TensorRTDenoiser``,
which stand in for the transformer in the pipeline; ``tensorrt_engine``:
TensorRT engine build, cache and runner.
"""
