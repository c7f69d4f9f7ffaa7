# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Official weights: LoRAs (original, peft names; convert-lora), base model, checkpoints."""

import json
import shutil

from diffusers import AutoencoderKLWan
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers import WanTransformer3DModel
import numpy as np
import pytest
from safetensors.torch import load_file
from safetensors.torch import save_file
from tiny_official import inputs
from tiny_official import LORA_MODULES
from tiny_official import lora_state
from tiny_official import prepare_official
from tiny_official import random_lora
from tiny_official import RANK
from tiny_official import tiny_text_encoder
from tiny_official import tiny_transformer
from tiny_official import write_base
import torch

from anyrecon_ros.cli.main import main
from anyrecon_ros.model.loaders.convert import convert_lora
from anyrecon_ros.model.loaders.convert import RefusedWeightsError
from anyrecon_ros.model.loaders.official import GENERATION_PARTS
from anyrecon_ros.model.loaders.official import is_official_checkpoint
from anyrecon_ros.model.loaders.official import load_anyrecon_lora
from anyrecon_ros.model.loaders.official import load_official_checkpoint
from anyrecon_ros.model.loaders.official import load_transformer
from anyrecon_ros.model.loaders.official import load_wan_i2v_components
from anyrecon_ros.model.loaders.official import locate_wan_i2v_parts
from anyrecon_ros.model.loaders.official import MissingWeightsError
from anyrecon_ros.model.loaders.official import normalise_lora_key
from anyrecon_ros.model.loaders.official import prepare_official_checkpoint
from anyrecon_ros.model.models.conditioning import encode_empty_prompt
from anyrecon_ros.model.models.conditioning import load_empty_prompt
from anyrecon_ros.model.models.vae import FrameVAE
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import ViewGenerator
from anyrecon_ros.model.pipelines.pipeline import OFFICIAL_SAMPLING

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
    return random_lora(transformer, MODULES, down, up, prefix, alpha, seed=seed)


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
    # The right model, in both layouts; not the 480P repository.
    assert 'Wan2.1-I2V-14B-720P-Diffusers' in message and 'original layout' in message
    assert '480P' not in message


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


# --- peft names, convert-lora, the base model's layouts, prepared checkpoints ---------------


class NotATensor:
    """Something a tensors-only pickle must not hold."""


def _merged_weights(transformer, state, factor=1.0) -> dict:
    before = {k: v.clone() for k, v in transformer.state_dict().items()}
    for block in range(2):
        for wan, name in LORA_MODULES.items():
            prefix = f'blocks.{block}.{wan}'
            down = next(v for k, v in state.items() if k.startswith(prefix + '.lora_A'))
            up = next(v for k, v in state.items() if k.startswith(prefix + '.lora_B'))
            before[f'blocks.{block}.{name}.weight'] += factor * up @ down
    return before


def test_the_loader_takes_peft_key_names(tmp_path):
    transformer = tiny_transformer()
    state = lora_state(transformer, 'peft')
    assert 'blocks.0.self_attn.q.lora_A.default.weight' in state
    save_file(state, str(tmp_path / 'peft.safetensors'))
    expected = _merged_weights(transformer, state)
    assert len(load_anyrecon_lora(transformer, tmp_path / 'peft.safetensors')) == 8
    after = transformer.state_dict()
    assert all(torch.allclose(after[k], expected[k], atol=1e-6) for k in expected)


@pytest.mark.parametrize('style,suffix', [('original', '.ckpt'), ('peft', '.ckpt'),
                                          ('peft', '.safetensors')])
def test_convert_lora_round_trip(tmp_path, style, suffix):
    transformer = tiny_transformer()
    state = lora_state(transformer, style)
    source = tmp_path / f'AnyRecon_full_attention{suffix}'
    if suffix == '.ckpt':
        torch.save({f'diffusion_model.{k}' if style == 'original' else k: v
                    for k, v in state.items()}, source)
    else:
        save_file(state, str(source))
    target = tmp_path / 'anyrecon_lora.safetensors'
    assert main(['convert-lora', str(source), str(target)]) == 0
    written = load_file(str(target))
    assert set(written) == {normalise_lora_key(k) for k in state}
    assert all('.default.' not in k for k in written)
    expected = _merged_weights(transformer, state)
    load_anyrecon_lora(transformer, target)
    after = transformer.state_dict()
    assert all(torch.allclose(after[k], expected[k], atol=1e-6) for k in expected)


def test_convert_lora_refuses_pickles_with_other_objects(tmp_path, capsys):
    state = lora_state(tiny_transformer())
    extra = tmp_path / 'with_epoch.ckpt'
    torch.save({**state, 'epoch': 3, 'optimizer': {'lr': 1e-4}}, extra)
    with pytest.raises(RefusedWeightsError, match=r'2 entries are not tensors: epoch \(int\), '
                                                  r'optimizer \(dict\)'):
        convert_lora(extra, tmp_path / 'out.safetensors')
    code = tmp_path / 'with_object.ckpt'
    torch.save({**state, 'hook': NotATensor()}, code)
    with pytest.raises(RefusedWeightsError, match='weights_only=True.*objects other than tensors'):
        convert_lora(code, tmp_path / 'out.safetensors')
    # Through the command: one line, status 1, nothing written.
    assert main(['convert-lora', str(code), str(tmp_path / 'out.safetensors')]) == 1
    assert 'objects other than tensors' in capsys.readouterr().err
    assert not (tmp_path / 'out.safetensors').exists()
    with pytest.raises(ValueError, match='match no Wan module'):
        torch.save({'blocks.0.norm3.lora_A.weight': torch.zeros(4, 4)}, tmp_path / 'bad.ckpt')
        convert_lora(tmp_path / 'bad.ckpt', tmp_path / 'out.safetensors')


def test_a_published_ckpt_is_refused_by_the_loader_with_the_way_out(tmp_path):
    path = tmp_path / 'AnyRecon_full_attention.ckpt'
    path.write_bytes(b'not read')
    with pytest.raises(ValueError, match='pickle.*anyrecon convert-lora'):
        load_anyrecon_lora(tiny_transformer(), path)


def test_missing_files_are_listed_exactly_with_the_right_model(tmp_path):
    base = write_base(tmp_path / 'wan', 'original')
    (base / 'diffusion_pytorch_model-00002-of-00002.safetensors').unlink()
    shutil.rmtree(base / 'vae')
    (base / 'Wan2.1_VAE.pth').write_bytes(b'not read')
    shutil.rmtree(base / 'image_encoder')
    with pytest.raises(MissingWeightsError) as error:
        locate_wan_i2v_parts(base, GENERATION_PARTS)
    message = str(error.value)
    assert f'{base} lacks 3 item(s) of Wan2.1-I2V-14B-720P' in message
    assert ('diffusion_pytorch_model-00002-of-00002.safetensors (named by '
            'diffusion_pytorch_model.safetensors.index.json)') in message
    assert 'vae/ (Wan2.1_VAE.pth is there, a pickle, which is not read: convert it: anyrecon '
    assert f'anyrecon convert-vae {base}/Wan2.1_VAE.pth {base}/vae' in message
    assert 'image_encoder/ (models_clip' not in message and '  image_encoder/' in message
    assert 'image_processor' not in message.split('expected')[0]


@pytest.mark.parametrize('layout', ['diffusers', 'original'])
def test_both_layouts_load_the_same_transformer(tmp_path, layout):
    base = write_base(tmp_path / layout, layout)
    transformer = load_transformer(base, torch.float32, {'sparse_attention': False})
    reference = tiny_transformer()
    loaded, expected = transformer.state_dict(), reference.state_dict()
    assert set(loaded) == set(expected)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected
               if k != 'empty_prompt_embedding')
    assert transformer.config.image_dim == 16 and not transformer.config.sparse_attention
    # bfloat16 with diffusers' float32 modules kept.
    half = load_transformer(base, torch.bfloat16)
    assert half.dtype == torch.bfloat16
    assert half.blocks[0].scale_shift_table.dtype == torch.float32
    assert half.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    """Return a folder with a tiny original-layout base, a converted LoRA, a checkpoint."""
    return prepare_official(tmp_path_factory.mktemp('official'))


def test_prepared_checkpoint_records_the_official_settings(prepared):
    folder = prepared / 'checkpoint'
    assert is_official_checkpoint(folder)
    index = json.loads((folder / 'model_index.json').read_text())
    assert {k: index[k] for k in OFFICIAL_SAMPLING} == OFFICIAL_SAMPLING
    assert index['decode_tiles'] == [30, 52, 15, 26]
    config = json.loads((folder / 'transformer' / 'config.json').read_text())
    assert config['sparse_attention'] is False and config['image_dim'] == 16
    settings = json.loads((folder / 'anyrecon.json').read_text())
    assert settings['dtype'] == 'bfloat16' and settings['working_width'] == 32
    assert not list(folder.rglob('*.safetensors'))[1:]   # only the empty prompt


def test_the_empty_prompt_is_stored_and_reloaded(prepared):
    stored = load_empty_prompt(prepared / 'checkpoint')
    encoder, tokenizer = tiny_text_encoder()
    assert tokenizer(['']).input_ids == [[1]]   # '' is one end-of-sequence token
    expected = encode_empty_prompt(encoder, tokenizer)
    assert stored.shape == (1, 512, 32)
    torch.testing.assert_close(stored, expected, rtol=0, atol=0)
    assert stored[0, 0].abs().sum() > 0 and not stored[0, 1:].any()
    # The official prompt ' ' is cleaned to '': the same embedding.
    torch.testing.assert_close(encode_empty_prompt(encoder, tokenizer, prompt='  '), expected)
    pipeline = load_official_checkpoint(prepared / 'checkpoint', 'float32')
    torch.testing.assert_close(pipeline.transformer.empty_prompt_embedding, stored)
    with pytest.raises(FileNotFoundError, match='empty_prompt.safetensors.*prepare-official'):
        load_empty_prompt(prepared)


def test_the_prepared_checkpoint_generates_end_to_end(prepared):
    generator = ViewGenerator.load(GeneratorSettings(checkpoint=str(prepared / 'checkpoint'),
                                                     seed=1, chunk_frames=3))
    assert generator.trained and generator.working_width == 32
    pipeline = generator.pipeline
    assert pipeline.transformer.dtype == torch.float32   # on the CPU, unless asked
    assert not pipeline.transformer.config.sparse_attention
    # The LoRA is merged.
    reference = tiny_transformer()
    expected = _merged_weights(reference, lora_state(reference, 'peft'))
    name = 'blocks.1.attn2.add_k_proj.weight'
    torch.testing.assert_close(pipeline.transformer.state_dict()[name], expected[name])
    capture, renders, masks = inputs(targets=4)
    images = generator.generate(capture, renders, masks)
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, generator.generate(capture, renders, masks))
    # bfloat16 on request, beside the float32 VAE and image encoder.
    half = ViewGenerator.load(GeneratorSettings(checkpoint=str(prepared / 'checkpoint'),
                                                dtype='bfloat16'))
    assert half.pipeline.transformer.dtype == torch.bfloat16
    assert half.pipeline.vae.dtype == torch.float32
    assert half.generate(capture, renders[:1], masks[:1]).shape == (1, 32, 32, 3)


def test_exported_backends_and_cpu_offload_are_refused_for_official_weights(prepared):
    folder = str(prepared / 'checkpoint')
    with pytest.raises(ValueError, match='backend onnxruntime.*no image input'):
        ViewGenerator.load(GeneratorSettings(checkpoint=folder, backend='onnxruntime'))
    with pytest.raises(ValueError, match='offload model moves parts between the CPU and a CUDA'):
        ViewGenerator.load(GeneratorSettings(checkpoint=folder, offload='model'))


def test_prepare_refuses_a_pickle_lora_and_lists_missing_parts(tmp_path, prepared):
    base = prepared / 'Wan2.1-I2V-14B-720P'
    with pytest.raises(ValueError, match='anyrecon convert-lora'):
        prepare_official_checkpoint(base, prepared / 'AnyRecon_full_attention.ckpt',
                                    tmp_path / 'out')
    with pytest.raises(MissingWeightsError, match='text_encoder/'):
        prepare_official_checkpoint(tmp_path, prepared / 'anyrecon_lora.safetensors',
                                    tmp_path / 'out')
    assert not (tmp_path / 'out').exists()
