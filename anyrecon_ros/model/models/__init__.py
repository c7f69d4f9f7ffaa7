# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The networks.

``transformer``: ``AnyReconTransformer`` (Wan2.1-I2V with AnyRecon's 36-channel
input and stored empty prompt) and ``pack_conditioning``; ``attention``: the
context-window sparse self-attention processor; ``vae``: the Wan VAE used
frame-wise (``encode_frames`` / ``decode_frames``, ``mask_to_latent``,
``FrameVAE``) and the uint8 <-> [-1, 1] image conversions (``to_unit_range``,
``from_unit_range``).
"""
