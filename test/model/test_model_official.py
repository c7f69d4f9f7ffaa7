# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Official weights: LoRA merging in the original Wan layout, and the base-model folder check."""

from diffusers import AutoencoderKLWan
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers import WanTransformer3DModel
import pytest
from safetensors.torch import save_file
import torch

from anyrecon_ros.model.loaders.official import load_anyrecon_lora
from anyrecon_ros.model.loaders.official import load_wan_i2v_components
from anyrecon_ros.model.loaders.official import MissingWeightsError
from anyrecon_ros.model.models.vae import FrameVAE

RANK = 4
# Original Wan module -> diffusers module inside blocks.{i}.
MODULES = {
    'self_attn.q': 'attn1.to_q',
    'self_attn.o': 'attn1.to_out.0',
    'cross_attn.k': 'attn2.to_k',
    'cross_attn.o': 'attn2.to_out.0',
    'cross_attn.k_img': 'attn2.add_k_proj',
    'cross_attn.v_img': 'attn2.add_v_proj',
    'ffn.0': 'ffn.net.0.proj',
    'ffn.2': 'ffn.net.2',
}


def _tiny_transformer() -> WanTransformer3DModel:
    torch.manual_seed(0)
    return WanTransformer3DModel(
        num_layers=2, num_attention_heads=2, attention_head_dim=32, ffn_dim=64,
        text_dim=32, freq_dim=32, image_dim=32, added_kv_proj_dim=64,
        in_channels=36, out_channels=16).eval()


def _lora(transformer, down='lora_A', up='lora_B', prefix='', alpha=None, seed=1) -> dict:
    """Return an original-layout LoRA for every module in MODULES of both blocks."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for block in range(2):
        for wan, diffusers_name in MODULES.items():
            out_dim, in_dim = transformer.get_submodule(
                f'blocks.{block}.{diffusers_name}').weight.shape
            base = f'{prefix}blocks.{block}.{wan}'
            state[f'{base}.{down}.weight'] = torch.randn(RANK, in_dim, generator=generator)
            state[f'{base}.{up}.weight'] = torch.randn(out_dim, RANK, generator=generator)
            if alpha is not None:
                state[f'{base}.alpha'] = torch.tensor(float(alpha))
    return state


def _check_merged(before, after, state, down, up, prefix, scale, alpha):
    factor = scale * (RANK if alpha is None else alpha) / RANK
    for block in range(2):
        for wan, diffusers_name in MODULES.items():
            base = f'{prefix}blocks.{block}.{wan}'
            name = f'blocks.{block}.{diffusers_name}.weight'
            expected = before[name] + factor * state[f'{base}.{up}.weight'] @ state[
                f'{base}.{down}.weight']
            assert torch.allclose(after[name], expected, atol=1e-5), name
    # Modules the LoRA does not name stay as they were.
    untouched = 'blocks.0.attn1.to_k.weight'
    assert torch.equal(after[untouched], before[untouched])


@pytest.mark.parametrize('down,up,prefix,scale,alpha', [
    ('lora_A', 'lora_B', '', 1.0, None),
    ('lora_down', 'lora_up', 'diffusion_model.', 0.5, 8.0),
    ('lora_A', 'lora_B', 'diffusion_model.', 2.0, 2.0),
])
def test_lora_is_merged_into_the_diffusers_weights(tmp_path, down, up, prefix, scale, alpha):
    transformer = _tiny_transformer()
    before = {k: v.clone() for k, v in transformer.state_dict().items()}
    state = _lora(transformer, down, up, prefix, alpha)
    path = tmp_path / 'anyrecon_lora.safetensors'
    save_file(state, str(path))
    merged = load_anyrecon_lora(transformer, path, scale=scale)
    assert len(merged) == 2 * len(MODULES)
    _check_merged(before, transformer.state_dict(), state, down, up, prefix, scale, alpha)


def _forward(transformer) -> torch.Tensor:
    """Run the tiny transformer on fixed inputs (Wan cross-attention expects 512 text tokens)."""
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        return transformer(
            hidden_states=torch.randn(1, 36, 2, 4, 4, generator=generator),
            timestep=torch.tensor([500]),
            encoder_hidden_states=torch.randn(1, 512, 32, generator=generator),
            encoder_hidden_states_image=torch.randn(1, 4, 32, generator=generator),
        ).sample


def _run_lora_unmerged(transformer, state, factor) -> None:
    """Add factor * B @ A x to each named layer's output at run time, as a LoRA adapter would."""
    for block in range(2):
        for wan, diffusers_name in MODULES.items():
            down = state[f'blocks.{block}.{wan}.lora_A.weight']
            up = state[f'blocks.{block}.{wan}.lora_B.weight']
            layer = transformer.get_submodule(f'blocks.{block}.{diffusers_name}')
            layer.register_forward_hook(
                lambda module, inputs, output, down=down, up=up:
                    output + factor * (inputs[0] @ down.T) @ up.T)


def test_merged_forward_equals_the_lora_applied_at_run_time(tmp_path):
    # Small LoRA weights keep the tiny network in its ordinary range.
    state = {k: 0.05 * v for k, v in _lora(_tiny_transformer()).items()}
    state.update({f'blocks.{b}.{wan}.alpha': torch.tensor(2.0)
                  for b in range(2) for wan in MODULES})
    path = tmp_path / 'lora.safetensors'
    save_file(state, str(path))
    scale = 0.7
    original = _forward(_tiny_transformer())
    merged = _tiny_transformer()
    load_anyrecon_lora(merged, path, scale=scale)
    reference = _tiny_transformer()
    _run_lora_unmerged(reference, state, scale * 2.0 / RANK)
    expected = _forward(reference)
    assert not torch.allclose(expected, original, atol=1e-3)
    torch.testing.assert_close(_forward(merged), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('suffix', ['.bin', '.pt', '.pth', '.ckpt'])
def test_pickle_files_are_refused(tmp_path, suffix):
    path = tmp_path / f'lora{suffix}'
    path.write_bytes(b'not read')
    with pytest.raises(ValueError, match='pickle checkpoint.*arbitrary code.*safetensors'):
        load_anyrecon_lora(_tiny_transformer(), path)


def test_unmatched_keys_are_listed_and_nothing_is_merged(tmp_path):
    transformer = _tiny_transformer()
    before = {k: v.clone() for k, v in transformer.state_dict().items()}
    state = _lora(transformer)
    state['blocks.0.norm3.lora_A.weight'] = torch.zeros(RANK, 64)
    state['head.head.lora_B.weight'] = torch.zeros(16, RANK)
    path = tmp_path / 'lora.safetensors'
    save_file(state, str(path))
    with pytest.raises(ValueError) as error:
        load_anyrecon_lora(transformer, path)
    assert 'blocks.0.norm3.lora_A.weight' in str(error.value)
    assert 'head.head.lora_B.weight' in str(error.value)
    after = transformer.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_lora_for_a_missing_block_is_an_error(tmp_path):
    transformer = _tiny_transformer()
    path = tmp_path / 'lora.safetensors'
    save_file({'blocks.7.ffn.0.lora_A.weight': torch.zeros(RANK, 64),
               'blocks.7.ffn.0.lora_B.weight': torch.zeros(64, RANK)}, str(path))
    with pytest.raises(ValueError, match='blocks.7.ffn.net.0.proj'):
        load_anyrecon_lora(transformer, path)


def test_empty_folder_lists_every_missing_part(tmp_path):
    with pytest.raises(MissingWeightsError) as error:
        load_wan_i2v_components(tmp_path)
    message = str(error.value)
    for part in ('transformer/', 'vae/', 'image_encoder/', 'image_processor/',
                 'text_encoder/', 'tokenizer/', 'scheduler/'):
        assert part in message
    assert 'expected diffusers layout' in message


def test_partial_folder_lists_missing_files(tmp_path):
    (tmp_path / 'transformer').mkdir()
    (tmp_path / 'transformer' / 'config.json').write_text('{}')
    (tmp_path / 'vae').mkdir()
    with pytest.raises(MissingWeightsError) as error:
        load_wan_i2v_components(tmp_path)
    message = str(error.value)
    assert 'transformer/diffusion_pytorch_model.safetensors' in message
    assert 'transformer/config.json' not in message.split('expected')[0]
    assert 'vae/config.json' in message
    assert 'text_encoder/' in message


def test_present_parts_load_offline(tmp_path):
    _tiny_transformer().save_pretrained(tmp_path / 'transformer')
    AutoencoderKLWan(**FrameVAE.tiny_config()).save_pretrained(tmp_path / 'vae')
    FlowMatchEulerDiscreteScheduler(shift=5.0).save_pretrained(tmp_path / 'scheduler')
    parts = ('transformer', 'vae', 'scheduler')
    components = load_wan_i2v_components(tmp_path, torch_dtype=torch.float32, parts=parts)
    assert isinstance(components['transformer'], WanTransformer3DModel)
    assert isinstance(components['vae'], AutoencoderKLWan)
    assert components['scheduler'].config.shift == 5.0
