# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The networks.

``transformer``: ``AnyReconTransformer`` (Wan2.1-I2V with AnyRecon's 2C + 4-channel
input, 36 for 16 latent channels, and stored empty prompt) and
``pack_conditioning``; ``attention``: the context-window sparse
self-attention processor; ``vae``: frame-wise VAEs (``encode_frames`` /
``decode_frames``, ``mask_to_latent``, ``FrameVAE``: the Wan VAE) and the
uint8 <-> [-1, 1] image conversions (``to_unit_range``, ``from_unit_range``);
``taef2``: ``TinyFrameAutoencoder``, the pretrained per-image TAEF2
autoencoder (32 latent channels, MIT weights: ``TAEF2_LICENSE``).
"""
