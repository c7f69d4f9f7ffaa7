# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Context-window sparse attention and the AnyRecon transformer, on tiny configurations."""

import inspect
import math
from types import SimpleNamespace

from diffusers import WanTransformer3DModel
from diffusers.models.transformers.transformer_wan import (
    WanAttention, WanAttnProcessor, WanRotaryPosEmbed)
import pytest
import torch
import torch.nn.functional as F

from anyrecon_ros.model.models import attention
from anyrecon_ros.model.models.attention import (
    block_mask, context_window_attention, ContextWindowAttnProcessor)
from anyrecon_ros.model.models.transformer import AnyReconTransformer, pack_conditioning

LATENT = (8, 8)
TOKENS_PER_FRAME = 16  # 8x8 latent pixels in 2x2 patches
TIMESTEP = torch.tensor([500.0])


def _tiny(seed: int = 0, **overrides) -> AnyReconTransformer:
    torch.manual_seed(seed)
    return AnyReconTransformer(**{**AnyReconTransformer.tiny_config(), **overrides}).eval()


def _latents(frames: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 36, frames, *LATENT, generator=generator)


def _run(model, latents, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(latents, TIMESTEP, return_dict=False, **kwargs)[0]


class _MaskedStockProcessor(WanAttnProcessor):
    """Diffusers' own processor, made to attend under the dense block mask."""

    def __init__(self, block_frames: int, window: int):
        super().__init__()
        self.block_frames, self.window = block_frames, window

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 rotary_emb=None):
        frames = hidden_states.shape[1] // TOKENS_PER_FRAME
        mask = block_mask(frames, TOKENS_PER_FRAME, self.block_frames, self.window)
        return super().__call__(attn, hidden_states, encoder_hidden_states, mask, rotary_emb)


@pytest.mark.parametrize('window', [1, 2])
@pytest.mark.parametrize('frames', [1, 5, 8, 9, 16, 17, 23])
def test_sparse_attention_matches_dense_block_mask(frames, window):
    tokens_per_frame = 3
    generator = torch.Generator().manual_seed(frames * 10 + window)
    query, key, value = torch.randn(3, 2, 2, frames * tokens_per_frame, 8,
                                    generator=generator).unbind(0)
    mask = block_mask(frames, tokens_per_frame, 8, window)
    dense = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    sparse = context_window_attention(query, key, value, tokens_per_frame, 8, window)
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)


def test_block_mask_follows_the_context_window():
    mask = block_mask(frames=33, tokens_per_frame=1, block_frames=8, window=1)
    block = torch.arange(33) // 8
    assert mask[:, block == 0].all()  # every block sees the capture cache
    assert mask[block == 1][:, block == 2].all()
    assert not mask[block == 1][:, block == 3].any()
    assert not mask[block == 4][:, block == 2].any()
    assert mask[32, 32]  # the short last block (one frame) is kept


@pytest.mark.parametrize('frames', [1, 9, 17])
def test_processor_matches_stock_wan_processor_with_block_mask(frames):
    torch.manual_seed(frames)
    module = WanAttention(dim=64, heads=2, dim_head=32, eps=1e-6)
    rotary = WanRotaryPosEmbed(32, (1, 2, 2), 1024)(torch.zeros(1, 36, frames, *LATENT))
    hidden = torch.randn(2, frames * TOKENS_PER_FRAME, 64)
    sparse = ContextWindowAttnProcessor(block_frames=8, window=1)
    sparse.tokens_per_frame = TOKENS_PER_FRAME
    with torch.no_grad():
        expected = _MaskedStockProcessor(8, 1)(module, hidden, rotary_emb=rotary)
        actual = sparse(module, hidden, rotary_emb=rotary)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('window', [1, 2])
def test_gathered_keys_per_query_block_do_not_grow_with_frames(monkeypatch, window):
    calls = []

    def recording_sdpa(query, key, value):
        calls.append((query.shape[-2], key.shape[-2]))
        return torch.zeros_like(query)

    recording_functional = SimpleNamespace(scaled_dot_product_attention=recording_sdpa)
    monkeypatch.setattr(attention, 'F', recording_functional)
    tokens_per_frame, block_frames = 2, 8
    # Block 0 plus 2 * window + 1 neighbours, whatever the sequence length.
    bound = (2 * window + 2) * block_frames * tokens_per_frame
    for frames in (24, 101, 400):
        calls.clear()
        tensor = torch.zeros(1, 1, frames * tokens_per_frame, 4)
        context_window_attention(tensor, tensor, tensor, tokens_per_frame, block_frames, window)
        assert len(calls) == math.ceil(frames / block_frames)
        assert sum(queries for queries, _ in calls) == frames * tokens_per_frame
        assert max(keys for _, keys in calls) <= bound
        assert sum(keys for _, keys in calls) <= len(calls) * bound


def test_full_model_sparse_equals_dense_block_masked_attention():
    model = _tiny()
    latents = _latents(17)
    sparse = _run(model, latents)
    for block in model.blocks:
        block.attn1.set_processor(_MaskedStockProcessor(8, 1))
    dense = _run(model, latents)
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)


def test_full_attention_equals_stock_wan_transformer():
    model = _tiny(sparse_attention=False)
    model.empty_prompt_embedding.normal_()
    stock_args = inspect.signature(WanTransformer3DModel.__init__).parameters
    stock = WanTransformer3DModel(**{key: value for key, value in model.config.items()
                                     if key in stock_args}).eval()
    weights = {key: value for key, value in model.state_dict().items()
               if key != 'empty_prompt_embedding'}
    stock.load_state_dict(weights, strict=True)
    latents = _latents(17)
    expected = _run(stock, latents, encoder_hidden_states=model.empty_prompt_embedding)
    torch.testing.assert_close(_run(model, latents), expected, atol=1e-6, rtol=1e-6)


def test_sparse_attention_changes_long_sequences_only():
    model = _tiny()
    short, long = _latents(16), _latents(17)
    sparse_short, sparse_long = _run(model, short), _run(model, long)
    model.set_attention(False)
    assert not model.config.sparse_attention
    # Within 16 frames every block is block 0 or its neighbour: nothing is masked.
    torch.testing.assert_close(_run(model, short), sparse_short, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(_run(model, long), sparse_long, atol=1e-4)


def test_shapes_and_determinism():
    latents = _latents(5, batch=2)
    first, second = _tiny(seed=3), _tiny(seed=3)
    output = _run(first, latents)
    assert output.shape == (2, 16, 5, *LATENT)
    assert torch.isfinite(output).all()
    torch.testing.assert_close(_run(first, latents), output, atol=0, rtol=0)
    torch.testing.assert_close(_run(second, latents), output, atol=0, rtol=0)
    assert first.config.in_channels == 36 and first.config.out_channels == 16


def test_empty_prompt_embedding_is_used_without_text():
    model = _tiny()
    assert model.empty_prompt_embedding.shape == (1, 4, 32)
    assert not model.empty_prompt_embedding.any()
    latents = _latents(3, batch=2)
    zeros_prompt = _run(model, latents)
    model.empty_prompt_embedding.normal_()
    stored = _run(model, latents)
    explicit = _run(model, latents,
                    encoder_hidden_states=model.empty_prompt_embedding.expand(2, -1, -1))
    torch.testing.assert_close(stored, explicit, atol=0, rtol=0)
    assert not torch.allclose(stored, zeros_prompt)


def test_save_and_load_round_trip_writes_only_safetensors(tmp_path):
    model = _tiny()
    model.empty_prompt_embedding.normal_()
    model.set_attention(False)
    model.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        'config.json', 'diffusion_pytorch_model.safetensors']
    loaded = AnyReconTransformer.from_pretrained(tmp_path, local_files_only=True).eval()
    assert not loaded.config.sparse_attention
    assert isinstance(loaded.blocks[0].attn1.processor, WanAttnProcessor)
    weights, loaded_weights = model.state_dict(), loaded.state_dict()
    assert weights.keys() == loaded_weights.keys()
    for name, tensor in weights.items():
        assert torch.equal(loaded_weights[name], tensor), name
    latents = _latents(9)
    # Equal weights; loading may change memory layouts and so summation order.
    torch.testing.assert_close(_run(loaded, latents), _run(model, latents), atol=1e-5, rtol=1e-5)


def test_official_14b_config_is_accepted_and_matches_wan_i2v():
    config = AnyReconTransformer.official_14b_config()
    accepted = inspect.signature(AnyReconTransformer.__init__).parameters
    assert set(config) <= set(accepted)
    assert set(AnyReconTransformer.tiny_config()) <= set(accepted)
    assert config['num_layers'] == 40 and config['num_attention_heads'] == 40
    assert config['num_attention_heads'] * config['attention_head_dim'] == 5120
    assert (config['in_channels'], config['out_channels']) == (36, 16)
    assert config['image_dim'] == 1280 and config['added_kv_proj_dim'] == 5120
    with torch.device('meta'):  # the real geometry, without 16 billion weights in memory
        model = AnyReconTransformer(**config)
    assert len(model.blocks) == 40 and model.condition_embedder.image_embedder is not None
    assert model.blocks[0].attn2.add_k_proj.in_features == 5120
    assert model.empty_prompt_embedding.shape == (1, 512, 4096)


def test_image_branch_needs_its_projections_and_inputs():
    with pytest.raises(ValueError, match='added_kv_proj_dim'):
        _tiny(image_dim=16)
    with pytest.raises(ValueError, match='text_seq_len'):
        _tiny(image_dim=16, added_kv_proj_dim=64)
    with pytest.raises(ValueError, match='encoder_hidden_states_image'):
        _run(_tiny(), _latents(1), encoder_hidden_states_image=torch.zeros(1, 2, 16))


def test_pack_conditioning_channel_order():
    noisy, mask, condition = (torch.full((2, channels, 3, 4, 4), float(value))
                              for value, channels in ((1, 16), (2, 4), (3, 16)))
    packed = pack_conditioning(noisy, mask, condition)
    assert packed.shape == (2, 36, 3, 4, 4)
    assert (packed[:, :16] == 1).all() and (packed[:, 16:20] == 2).all()
    assert (packed[:, 20:] == 3).all()
    with pytest.raises(ValueError, match='mask'):
        pack_conditioning(noisy, condition, condition)
    with pytest.raises(ValueError, match='condition_latents'):
        pack_conditioning(noisy, mask, condition[:, :, :2])
