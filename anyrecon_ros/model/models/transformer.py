# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""AnyRecon's video diffusion transformer: Wan2.1-I2V with context-window sparse attention.

The backbone is diffusers' ``WanTransformer3DModel`` unchanged (so official
Wan2.1-I2V weights load into it); AnyRecon adds three things:

* a 2C + 4-channel input per latent pixel for C latent channels (see
  ``pack_conditioning``): 36 for the Wan VAE's 16, 68 for TAEF2's 32;
* context-window sparse self-attention (``ContextWindowAttnProcessor``)
  on every block, switchable with ``set_attention``;
* a stored embedding of the empty prompt, used when no text embedding is
  given, so inference needs no text encoder.
"""

# DiffusionPipeline.from_pretrained finds a component's loading method by
# looking its base class (ModelMixin) up in the module model_index.json names
# for it, which for AnyReconTransformer is this one.
from diffusers import ModelMixin  # noqa: F401
from diffusers import WanTransformer3DModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.transformers.transformer_wan import WanAttnProcessor
import torch

from anyrecon_ros.model.models.attention import ContextWindowAttnProcessor

# The Wan VAE's latent channels: the official model's geometry.
LATENT_CHANNELS = 16
MASK_CHANNELS = 4
# Wan's UMT5 text context length; diffusers' I2V processor assumes it too.
WAN_TEXT_SEQ_LEN = 512


class AnyReconTransformer(WanTransformer3DModel):
    """Wan2.1-I2V transformer with AnyRecon's input layout, sparse attention and empty prompt.

    Takes (B, 2C + 4, F, H, W) latents (``pack_conditioning``; 36 for the
    Wan VAE's C = 16) and returns the (B, C, F, H, W) flow-matching
    velocity; C is ``out_channels`` (see :func:`channel_config`). Extra
    configuration on top of ``WanTransformer3DModel``'s:

    * ``sparse_attention``: context-window self-attention (True) or full
      self-attention with diffusers' stock processor (False);
    * ``block_frames`` and ``attention_window``: the context window (blocks
      of 8 latent frames; a block sees block 0 and its neighbours);
    * ``text_seq_len``: tokens of the stored ``empty_prompt_embedding``.
    """

    @register_to_config
    def __init__(self, patch_size: tuple = (1, 2, 2), num_attention_heads: int = 40,
                 attention_head_dim: int = 128, in_channels: int = 2 * LATENT_CHANNELS
                 + MASK_CHANNELS, out_channels: int = LATENT_CHANNELS, text_dim: int = 4096,
                 freq_dim: int = 256, ffn_dim: int = 13824, num_layers: int = 40,
                 cross_attn_norm: bool = True, qk_norm: str = 'rms_norm_across_heads',
                 eps: float = 1e-6, image_dim: int = None, added_kv_proj_dim: int = None,
                 rope_max_seq_len: int = 1024, pos_embed_seq_len: int = None,
                 sparse_attention: bool = True, block_frames: int = 8,
                 attention_window: int = 1, text_seq_len: int = WAN_TEXT_SEQ_LEN) -> None:
        _check_image_branch(image_dim, added_kv_proj_dim, text_seq_len)
        super().__init__(
            patch_size=tuple(patch_size), num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim, in_channels=in_channels,
            out_channels=out_channels, text_dim=text_dim, freq_dim=freq_dim, ffn_dim=ffn_dim,
            num_layers=num_layers, cross_attn_norm=cross_attn_norm, qk_norm=qk_norm, eps=eps,
            image_dim=image_dim, added_kv_proj_dim=added_kv_proj_dim,
            rope_max_seq_len=rope_max_seq_len, pos_embed_seq_len=pos_embed_seq_len)
        # The text encoder's output for '' (zeros until real weights are loaded);
        # a persistent buffer so it is saved with the weights but never trained.
        self.register_buffer('empty_prompt_embedding', torch.zeros(1, text_seq_len, text_dim))
        self.set_attention(sparse_attention)

    @classmethod
    def tiny_config(cls, latent_channels: int = LATENT_CHANNELS) -> dict:
        """Return a few-thousand-parameter configuration for tests and CPU smoke runs.

        ``latent_channels`` is the VAE's (16: Wan, 32: TAEF2); see :func:`channel_config`.
        """
        return {'num_layers': 2, 'num_attention_heads': 2, 'attention_head_dim': 32,
                'ffn_dim': 128, 'text_dim': 32, 'text_seq_len': 4, 'freq_dim': 32,
                **channel_config(latent_channels)}

    @classmethod
    def official_14b_config(cls) -> dict:
        """Return the Wan2.1-I2V-14B geometry AnyRecon fine-tunes (about 16 billion weights)."""
        return {'patch_size': (1, 2, 2), 'num_attention_heads': 40, 'attention_head_dim': 128,
                **channel_config(LATENT_CHANNELS), 'text_dim': 4096, 'freq_dim': 256,
                'ffn_dim': 13824, 'num_layers': 40, 'cross_attn_norm': True,
                'qk_norm': 'rms_norm_across_heads', 'eps': 1e-6, 'image_dim': 1280,
                'added_kv_proj_dim': 5120, 'rope_max_seq_len': 1024,
                'text_seq_len': WAN_TEXT_SEQ_LEN, 'sparse_attention': True,
                'block_frames': 8, 'attention_window': 1}

    def set_attention(self, sparse: bool, batched: bool = False) -> None:
        """Use context-window sparse (True) or stock full (False) self-attention in every block.

        The choice is recorded in the config, so ``save_pretrained`` keeps it.
        ``batched`` computes the context window without a loop over blocks
        (same result; what the ONNX export traces).
        """
        for block in self.blocks:
            block.attn1.set_processor(
                ContextWindowAttnProcessor(self.config.block_frames, self.config.attention_window,
                                           batched)
                if sparse else WanAttnProcessor())
        self.register_to_config(sparse_attention=bool(sparse))

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor,
                encoder_hidden_states: torch.Tensor = None,
                encoder_hidden_states_image: torch.Tensor = None, return_dict: bool = True,
                attention_kwargs: dict = None):
        """Predict the velocity of (B, 2C + 4, F, H, W) ``hidden_states`` at ``timestep``.

        ``encoder_hidden_states`` (B, L, text_dim) defaults to the stored
        empty-prompt embedding. ``encoder_hidden_states_image`` (CLIP tokens)
        is required exactly when the model has an image branch (``image_dim``).
        """
        if encoder_hidden_states is None:
            encoder_hidden_states = self.empty_prompt_embedding.expand(
                hidden_states.shape[0], -1, -1)
        if (self.config.image_dim is None) != (encoder_hidden_states_image is None):
            raise ValueError('pass encoder_hidden_states_image exactly when image_dim is set '
                             f'(image_dim={self.config.image_dim})')
        self._set_tokens_per_frame(hidden_states.shape[-2:])
        return super().forward(hidden_states, timestep, encoder_hidden_states,
                               encoder_hidden_states_image, return_dict, attention_kwargs)

    def _set_tokens_per_frame(self, latent_size) -> None:
        # The sparse processors see a flat token sequence; the frame boundaries
        # follow from the number of patches per latent frame.
        _, patch_h, patch_w = self.config.patch_size
        tokens = (latent_size[0] // patch_h) * (latent_size[1] // patch_w)
        for block in self.blocks:
            if isinstance(block.attn1.processor, ContextWindowAttnProcessor):
                block.attn1.processor.tokens_per_frame = tokens


def channel_config(latent_channels: int = LATENT_CHANNELS) -> dict:
    """Return the transformer's ``in_channels`` and ``out_channels`` for a VAE's latent channels.

    In: noisy latents, mask and condition latents (2C + 4); out: the velocity (C).
    """
    return {'in_channels': 2 * latent_channels + MASK_CHANNELS, 'out_channels': latent_channels}


def pack_conditioning(noisy: torch.Tensor, mask: torch.Tensor,
                      condition_latents: torch.Tensor) -> torch.Tensor:
    """Stack the transformer's 2C + 4 input channels: (B, 2C + 4, F, H, W).

    C is ``noisy``'s channel count (16 for the Wan VAE: 36 channels).
    Channel order, as Wan2.1-I2V and AnyRecon expect it:

    * 0 to C-1: ``noisy``, the (B, C, F, H, W) latents being denoised;
    * C to C+3: ``mask``, (B, 4, F, H, W), 1 where a latent pixel is known
      (capture views, rendered pixels), 0 where it is to be generated;
    * C+4 to 2C+3: ``condition_latents``, (B, C, F, H, W), the VAE latents
      of the conditioning frames (captures and renders).
    """
    latent = noisy.shape[1] if noisy.ndim == 5 else LATENT_CHANNELS
    expected = {'noisy': (noisy, latent), 'mask': (mask, MASK_CHANNELS),
                'condition_latents': (condition_latents, latent)}
    for name, (tensor, channels) in expected.items():
        if tensor.ndim != 5 or tensor.shape[1] != channels:
            raise ValueError(f'{name} must be (B, {channels}, F, H, W), got {tuple(tensor.shape)}')
        if tensor.shape[0] != noisy.shape[0] or tensor.shape[2:] != noisy.shape[2:]:
            raise ValueError(f'{name} {tuple(tensor.shape)} does not match noisy '
                             f'{tuple(noisy.shape)} in batch, frames or size')
    return torch.cat([noisy, mask, condition_latents], dim=1)


def _check_image_branch(image_dim, added_kv_proj_dim, text_seq_len) -> None:
    # diffusers' Wan processor splits text from image tokens by assuming 512
    # text tokens, and the image tokens only matter with their own projections.
    if (image_dim is None) != (added_kv_proj_dim is None):
        raise ValueError('image_dim and added_kv_proj_dim must be set together, got '
                         f'{image_dim} and {added_kv_proj_dim}')
    if image_dim is not None and text_seq_len != WAN_TEXT_SEQ_LEN:
        raise ValueError(f'with an image branch text_seq_len must be {WAN_TEXT_SEQ_LEN}, '
                         f'got {text_seq_len}')
