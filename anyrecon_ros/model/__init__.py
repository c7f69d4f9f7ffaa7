# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The generator: AnyRecon's video diffusion transformer, frame-wise VAE, pipeline, training.

Laid out like diffusers, and built on its conventions (ModelMixin /
ConfigMixin, DiffusionPipeline, save_pretrained / from_pretrained with
safetensors):

* ``models``: the networks (transformer, attention, frame-wise VAE);
* ``pipelines``: the sampling pipeline, its schedules, the generator facade
  and its checkpoints;
* ``loaders``: official Wan2.1-I2V weights and AnyRecon LoRAs;
* ``runtimes``: the denoiser step exported to ONNX, ONNX Runtime, TensorRT;
* ``training``: training samples, flow matching, distillation.

Nothing here imports ROS.
"""
