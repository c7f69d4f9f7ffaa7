# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The generator: AnyRecon's video diffusion transformer, frame-wise VAE, schedules, pipeline.

Built on diffusers' conventions (ModelMixin/ConfigMixin, save_pretrained /
from_pretrained with safetensors). Nothing here imports ROS.
"""
