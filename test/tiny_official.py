# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tiny random models in the official layouts, for the official-weights tests (no downloads).

An I2V transformer with ``image_dim``, a CLIP vision model and processor, a
UMT5 encoder and tokenizer, a Wan VAE, and AnyRecon-style LoRAs, each a few
thousand weights, written as the Wan2.1-I2V-14B-720P folders are laid out; and
``prepare_official``: such a base, the LoRA as published and converted, and
the checkpoint ``anyrecon prepare-official`` makes of them (shared by the
model, offline and generator-node tests).
"""

import json
from pathlib import Path

from diffusers import AutoencoderKLWan
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
import numpy as np
from safetensors.torch import save_file
import torch

from anyrecon_ros.model.models.transformer import AnyReconTransformer
from anyrecon_ros.model.models.vae import FrameVAE
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
from anyrecon_ros.model.pipelines.pipeline import OFFICIAL_SAMPLING
from anyrecon_ros.model.pipelines.scheduling import make_scheduler

TEXT_DIM = 32
CLIP_DIM = 16
HEADS, HEAD_DIM = 2, 32
INNER = HEADS * HEAD_DIM
RANK = 4
SIZE = 32
VOCABULARY = ['<pad>', '</s>', '<unk>', 'a', 'room', 'view']


def transformer_config(**overrides) -> dict:
    """Return a tiny Wan2.1-I2V configuration (image branch, 512 text tokens)."""
    config = {'num_layers': 2, 'num_attention_heads': HEADS, 'attention_head_dim': HEAD_DIM,
              'ffn_dim': 128, 'text_dim': TEXT_DIM, 'freq_dim': 32, 'in_channels': 36,
              'out_channels': 16, 'image_dim': CLIP_DIM, 'added_kv_proj_dim': INNER,
              'text_seq_len': 512, 'sparse_attention': False}
    config.update(overrides)
    return config


def tiny_transformer(seed: int = 0, **overrides) -> AnyReconTransformer:
    """Return a tiny I2V AnyReconTransformer with random weights (and empty prompt)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        transformer = AnyReconTransformer(**transformer_config(**overrides))
        # Random weights everywhere, the zero-initialised ones included, so every
        # input matters; and a non-zero empty prompt.
        for parameter in transformer.parameters():
            if parameter.ndim > 1:
                parameter.data.normal_(0, 0.1)
            else:
                parameter.data.add_(0.05 * torch.randn_like(parameter))
        transformer.empty_prompt_embedding.normal_()
    return transformer.eval()


def tiny_vae(seed: int = 0) -> AutoencoderKLWan:
    """Return a tiny Wan VAE with random weights."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AutoencoderKLWan(**FrameVAE.tiny_config()).eval()


def tiny_clip(seed: int = 0):
    """Return a tiny CLIPVisionModel and CLIPImageProcessor (CLIP input 32x32)."""
    from transformers import CLIPImageProcessor
    from transformers import CLIPVisionConfig
    from transformers import CLIPVisionModel
    config = CLIPVisionConfig(hidden_size=CLIP_DIM, intermediate_size=32, num_hidden_layers=2,
                              num_attention_heads=2, image_size=SIZE, patch_size=8,
                              projection_dim=CLIP_DIM)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CLIPVisionModel(config).eval()
    processor = CLIPImageProcessor(size={'shortest_edge': SIZE},
                                   crop_size={'height': SIZE, 'width': SIZE})
    return model, processor


def tiny_text_encoder(seed: int = 0):
    """Return a tiny UMT5EncoderModel and a tokenizer that turns '' into one '</s>'."""
    from tokenizers import models
    from tokenizers import pre_tokenizers
    from tokenizers import processors
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    from transformers import UMT5Config
    from transformers import UMT5EncoderModel
    words = Tokenizer(models.WordLevel({word: i for i, word in enumerate(VOCABULARY)},
                                       unk_token='<unk>'))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.post_processor = processors.TemplateProcessing(single='$A </s>',
                                                         special_tokens=[('</s>', 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, pad_token='<pad>',
                                        eos_token='</s>', unk_token='<unk>')
    config = UMT5Config(vocab_size=len(VOCABULARY), d_model=TEXT_DIM, d_kv=8, d_ff=64,
                        num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                        relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
                        decoder_start_token_id=0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        encoder = UMT5EncoderModel(config).eval()
    return encoder, tokenizer


def official_pipeline(seed: int = 0, **settings) -> AnyReconPipeline:
    """Return a tiny official-weights pipeline with the official sampling settings."""
    encoder, processor = tiny_clip(seed)
    return AnyReconPipeline(transformer=tiny_transformer(seed), vae=tiny_vae(seed),
                            scheduler=make_scheduler(), image_encoder=encoder,
                            image_processor=processor, **{**OFFICIAL_SAMPLING, **settings})


# diffusers names -> the original Wan names: the inverse of diffusers'
# convert_wan_transformer_to_diffusers (checked by round trip in to_original_keys).
_TO_ORIGINAL = [
    ('condition_embedder.time_embedder.linear_1', 'time_embedding.0'),
    ('condition_embedder.time_embedder.linear_2', 'time_embedding.2'),
    ('condition_embedder.text_embedder.linear_1', 'text_embedding.0'),
    ('condition_embedder.text_embedder.linear_2', 'text_embedding.2'),
    ('condition_embedder.time_proj', 'time_projection.1'),
    ('condition_embedder.image_embedder.norm1', 'img_emb.proj.0'),
    ('condition_embedder.image_embedder.ff.net.0.proj', 'img_emb.proj.1'),
    ('condition_embedder.image_embedder.ff.net.2', 'img_emb.proj.3'),
    ('condition_embedder.image_embedder.norm2', 'img_emb.proj.4'),
    ('attn1.', 'self_attn.'), ('attn2.', 'cross_attn.'),
    ('.to_out.0.', '.o.'), ('.to_q.', '.q.'), ('.to_k.', '.k.'), ('.to_v.', '.v.'),
    ('.add_k_proj.', '.k_img.'), ('.add_v_proj.', '.v_img.'),
    ('.norm_added_k.', '.norm_k_img.'),
    ('ffn.net.0.proj', 'ffn.0'), ('ffn.net.2', 'ffn.2'),
    ('.norm2.', '.norm3.'),
    ('proj_out', 'head.head'),
]


def to_original_keys(state_dict: dict) -> dict:
    """Return a diffusers Wan transformer state dict under the original Wan key names."""
    original = {}
    for key, tensor in state_dict.items():
        name = key
        for new, old in _TO_ORIGINAL:
            name = name.replace(new, old)
        if name == 'scale_shift_table':
            name = 'head.modulation'
        name = name.replace('scale_shift_table', 'modulation')
        original[name] = tensor
    back = convert_wan_transformer_to_diffusers(dict(original))
    assert set(back) == set(state_dict), set(back) ^ set(state_dict)
    return original


def write_base(root: Path, layout: str = 'diffusers', seed: int = 0, shards: int = 2) -> Path:
    """Write a tiny Wan2.1-I2V-14B-720P folder in the ``diffusers`` or ``original`` layout.

    The transformer (without AnyRecon's stored prompt) is sharded in both.
    """
    root.mkdir(parents=True, exist_ok=True)
    transformer = tiny_transformer(seed)
    weights = {key: value for key, value in transformer.state_dict().items()
               if key != 'empty_prompt_embedding'}
    if layout == 'original':
        config = {'_class_name': 'WanModel', 'model_type': 'i2v', 'dim': INNER,
                  'num_heads': HEADS, 'in_dim': 36, 'out_dim': 16, 'ffn_dim': 128,
                  'freq_dim': 32, 'num_layers': 2, 'eps': 1e-6, 'text_len': 512,
                  # Fixed in Wan's code at full size; written for the tiny model.
                  'text_dim': TEXT_DIM, 'image_dim': CLIP_DIM}
        _write_shards(root, to_original_keys(weights), shards)
        (root / 'config.json').write_text(json.dumps(config))
        tokenizer_folder = root / 'google' / 'umt5-xxl'
    else:
        config = {'_class_name': 'WanTransformer3DModel',
                  **{key: value for key, value in transformer.config.items()
                     if not key.startswith('_') and key not in (
                         'sparse_attention', 'block_frames', 'attention_window',
                         'text_seq_len')}}
        (root / 'transformer').mkdir(exist_ok=True)
        _write_shards(root / 'transformer', weights, shards)
        (root / 'transformer' / 'config.json').write_text(json.dumps(config))
        tokenizer_folder = root / 'tokenizer'
    tiny_vae(seed).save_pretrained(root / 'vae')
    encoder, processor = tiny_clip(seed)
    encoder.save_pretrained(root / 'image_encoder')
    processor.save_pretrained(root / 'image_processor')
    text_encoder, tokenizer = tiny_text_encoder(seed)
    text_encoder.save_pretrained(root / 'text_encoder')
    tokenizer.save_pretrained(tokenizer_folder)
    return root


def _write_shards(folder: Path, weights: dict, shards: int) -> None:
    names = sorted(weights)
    weight_map = {}
    for index in range(shards):
        file = f'diffusion_pytorch_model-{index + 1:05d}-of-{shards:05d}.safetensors'
        part = {name: weights[name].contiguous() for name in names[index::shards]}
        save_file(part, str(folder / file))
        weight_map.update({name: file for name in part})
    (folder / 'diffusion_pytorch_model.safetensors.index.json').write_text(
        json.dumps({'metadata': {}, 'weight_map': weight_map}))


# Original Wan module -> diffusers module inside blocks.{i}, as a LoRA names them.
LORA_MODULES = {'self_attn.q': 'attn1.to_q', 'self_attn.v': 'attn1.to_v',
                'cross_attn.k_img': 'attn2.add_k_proj', 'ffn.2': 'ffn.net.2'}


def random_lora(transformer, modules: dict, down: str = 'lora_A', up: str = 'lora_B',
                prefix: str = '', alpha=None, scale: float = 1.0, seed: int = 1) -> dict:
    """Return a rank-RANK LoRA of random factors for ``modules`` of both blocks.

    ``modules`` maps original Wan names to diffusers names; keys are
    ``{prefix}blocks.{i}.{wan}.{down|up}.weight`` (plus ``.alpha`` if given).
    """
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for block in range(2):
        for wan, diffusers_name in modules.items():
            out_dim, in_dim = transformer.get_submodule(
                f'blocks.{block}.{diffusers_name}').weight.shape
            base = f'{prefix}blocks.{block}.{wan}'
            state[f'{base}.{down}.weight'] = scale * torch.randn(RANK, in_dim,
                                                                 generator=generator)
            state[f'{base}.{up}.weight'] = scale * torch.randn(out_dim, RANK,
                                                               generator=generator)
            if alpha is not None:
                state[f'{base}.alpha'] = torch.tensor(float(alpha))
    return state


def lora_state(transformer, style: str = 'original', seed: int = 1) -> dict:
    """Return a LoRA for LORA_MODULES of both blocks, with original or peft key names."""
    middle = '.default' if style == 'peft' else ''
    return random_lora(transformer, LORA_MODULES, f'lora_A{middle}', f'lora_B{middle}',
                       scale=0.1, seed=seed)


def inputs(captures: int = 2, targets: int = 5, seed: int = 0):
    """Return uint8 capture views, renders and boolean masks at SIZE x SIZE."""
    rng = np.random.default_rng(seed)
    capture = rng.integers(0, 256, (captures, SIZE, SIZE, 3), dtype=np.uint8)
    renders = rng.integers(0, 256, (targets, SIZE, SIZE, 3), dtype=np.uint8)
    masks = rng.random((targets, SIZE, SIZE)) > 0.3
    return capture, renders, masks


def prepare_official(root: Path) -> Path:
    """Write a tiny official-layout folder under ``root`` as a GPU user would have it; return root.

    ``Wan2.1-I2V-14B-720P/`` (the original layout), ``AnyRecon_full_attention.ckpt``
    (a tensors-only pickle, peft key names), ``anyrecon_lora.safetensors`` (its
    ``anyrecon convert-lora``) and ``checkpoint/`` (``anyrecon prepare-official``
    at working width 32): the folder a node's ``checkpoint`` parameter names.
    """
    from anyrecon_ros.cli.main import main
    base = write_base(root / 'Wan2.1-I2V-14B-720P', 'original')
    torch.save(lora_state(tiny_transformer(), 'peft'), root / 'AnyRecon_full_attention.ckpt')
    assert main(['convert-lora', str(root / 'AnyRecon_full_attention.ckpt'),
                 str(root / 'anyrecon_lora.safetensors')]) == 0
    assert main(['prepare-official', str(base), str(root / 'anyrecon_lora.safetensors'),
                 str(root / 'checkpoint'), '--working-width', '32',
                 '--text-encoder-dtype', 'float32']) == 0
    return root
