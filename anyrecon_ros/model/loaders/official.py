# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Official weights: the local Wan2.1-I2V-14B base model and AnyRecon's LoRA.

Everything is read from local folders only (``local_files_only=True``); no
hub access is ever attempted. The base model folder is checked before any
weight is read, so a missing 30 GB shard is reported at once, together with
every other missing file, instead of after minutes of loading.

AnyRecon's LoRA is published in the original Wan key layout
(``blocks.{i}.self_attn.q.lora_A.weight`` ...). It is merged into the
weights of a diffusers ``WanTransformer3DModel``: W += scale * alpha / rank * B @ A,
so inference needs no LoRA machinery (peft) and runs at full speed.
"""

from pathlib import Path
import re

from diffusers import AutoencoderKLWan
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers import WanTransformer3DModel
from safetensors.torch import load_file
import torch

from anyrecon_ros.core.safe_weights import refuse_pickle_file
from anyrecon_ros.core.safe_weights import SAFETENSORS_SUFFIX

WAN_I2V_PARTS = ('transformer', 'vae', 'image_encoder', 'image_processor',
                 'text_encoder', 'tokenizer', 'scheduler')

# Per part: files that must all exist; a tuple inside means "any one of".
_DIFFUSERS_WEIGHTS = ('diffusion_pytorch_model.safetensors',
                      'diffusion_pytorch_model.safetensors.index.json')
_HF_WEIGHTS = ('model.safetensors', 'model.safetensors.index.json')
_EXPECTED = {
    'transformer': ('config.json', _DIFFUSERS_WEIGHTS),
    'vae': ('config.json', _DIFFUSERS_WEIGHTS),
    'image_encoder': ('config.json', _HF_WEIGHTS),
    'image_processor': ('preprocessor_config.json',),
    'text_encoder': ('config.json', _HF_WEIGHTS),
    'tokenizer': ('tokenizer_config.json',),
    'scheduler': ('scheduler_config.json',),
}

# Original Wan module names -> diffusers WanTransformerBlock submodules.
_WAN_TO_DIFFUSERS = {
    'self_attn.q': 'attn1.to_q',
    'self_attn.k': 'attn1.to_k',
    'self_attn.v': 'attn1.to_v',
    'self_attn.o': 'attn1.to_out.0',
    'cross_attn.q': 'attn2.to_q',
    'cross_attn.k': 'attn2.to_k',
    'cross_attn.v': 'attn2.to_v',
    'cross_attn.o': 'attn2.to_out.0',
    'cross_attn.k_img': 'attn2.add_k_proj',
    'cross_attn.v_img': 'attn2.add_v_proj',
    'ffn.0': 'ffn.net.0.proj',
    'ffn.2': 'ffn.net.2',
}
_LORA_KEY = re.compile(
    r'^blocks\.(\d+)\.(' + '|'.join(re.escape(m) for m in _WAN_TO_DIFFUSERS) + r')\.'
    r'(?:(lora_A|lora_B|lora_down|lora_up)\.weight|(alpha))$')
_ROLE = {'lora_A': 'down', 'lora_down': 'down', 'lora_B': 'up', 'lora_up': 'up'}
_PREFIX = 'diffusion_model.'


class MissingWeightsError(FileNotFoundError):
    """Raised when a local weights folder lacks files; the message lists all of them."""


def _layout_text() -> str:
    lines = ['expected diffusers layout of Wan2.1-I2V-14B (e.g. Wan2.1-I2V-14B-480P-Diffusers):']
    for part, files in _EXPECTED.items():
        names = [' or '.join(f) if isinstance(f, tuple) else f for f in files]
        lines.append(f'  {part}/: ' + ', '.join(names))
    return '\n'.join(lines)


def _missing(root: Path, parts) -> list:
    """Return every missing folder or file of ``parts`` under ``root``, as text."""
    missing = []
    for part in parts:
        folder = root / part
        if not folder.is_dir():
            missing.append(f'{part}/')
            continue
        for entry in _EXPECTED[part]:
            options = entry if isinstance(entry, tuple) else (entry,)
            if not any((folder / name).is_file() for name in options):
                missing.append(' or '.join(f'{part}/{name}' for name in options))
    return missing


def check_wan_i2v_folder(root, parts=WAN_I2V_PARTS) -> Path:
    """Check that ``root`` holds the files of ``parts``; raise MissingWeightsError if not."""
    root = Path(root)
    unknown = sorted(set(parts) - set(_EXPECTED))
    if unknown:
        raise ValueError(f'unknown Wan I2V parts {unknown}; known: {list(_EXPECTED)}')
    if not root.is_dir():
        raise MissingWeightsError(f'no such folder: {root}\n{_layout_text()}')
    missing = _missing(root, parts)
    if missing:
        raise MissingWeightsError(
            f'{root} lacks {len(missing)} item(s):\n' + '\n'.join(f'  {m}' for m in missing)
            + '\n' + _layout_text())
    return root


def _load_part(root: Path, part: str, torch_dtype):
    folder = root / part
    if part == 'transformer':
        return WanTransformer3DModel.from_pretrained(
            folder, torch_dtype=torch_dtype, local_files_only=True)
    if part == 'vae':
        # The Wan pipelines keep the VAE in float32: it is small and bf16 costs quality.
        return AutoencoderKLWan.from_pretrained(
            folder, torch_dtype=torch.float32, local_files_only=True)
    if part == 'scheduler':
        return FlowMatchEulerDiscreteScheduler.from_pretrained(folder, local_files_only=True)
    return _load_transformers_part(folder, part, torch_dtype)


def _load_transformers_part(folder: Path, part: str, torch_dtype):
    # Imported late: only the text and image encoders need transformers.
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(f'loading {part}/ needs the transformers package') from exc
    if part == 'image_encoder':
        return transformers.CLIPVisionModel.from_pretrained(
            folder, torch_dtype=torch.float32, local_files_only=True)
    if part == 'image_processor':
        return transformers.CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
    if part == 'text_encoder':
        return transformers.UMT5EncoderModel.from_pretrained(
            folder, torch_dtype=torch_dtype, local_files_only=True)
    return transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


def load_wan_i2v_components(root, torch_dtype=torch.bfloat16, parts=WAN_I2V_PARTS) -> dict:
    """Load the parts of a local diffusers-layout Wan2.1-I2V-14B folder, by part name.

    The folder is checked first (see :func:`check_wan_i2v_folder`); nothing is
    loaded unless every file of every requested part is there. The result can
    be passed to ``WanImageToVideoPipeline(**components)`` when all parts are
    loaded.
    """
    root = check_wan_i2v_folder(root, parts)
    return {part: _load_part(root, part, torch_dtype) for part in parts}


def _group_lora(state_dict: dict) -> dict:
    """Group LoRA tensors by (block, Wan module); raise listing keys that do not fit."""
    groups, unmatched = {}, []
    for key, tensor in state_dict.items():
        match = _LORA_KEY.match(key[len(_PREFIX):] if key.startswith(_PREFIX) else key)
        if match is None:
            unmatched.append(key)
            continue
        block, module, kind, alpha = match.groups()
        role = 'alpha' if alpha else _ROLE[kind]
        groups.setdefault((int(block), module), {})[role] = tensor
    if unmatched:
        raise ValueError(f'{len(unmatched)} LoRA key(s) match no Wan module: '
                         + ', '.join(sorted(unmatched)))
    incomplete = [f'blocks.{b}.{m}' for (b, m), g in groups.items()
                  if not {'down', 'up'} <= set(g)]
    if incomplete:
        raise ValueError('LoRA modules lacking a down or up matrix: ' + ', '.join(incomplete))
    return groups


def _lora_delta(group: dict, scale: float) -> torch.Tensor:
    """Return scale * alpha / rank * B @ A in float32; alpha defaults to the rank."""
    down, up = group['down'].float(), group['up'].float()
    rank = down.shape[0]
    alpha = float(group['alpha']) if 'alpha' in group else float(rank)
    return (scale * alpha / rank) * (up @ down)


def _resolve_targets(transformer: torch.nn.Module, groups: dict) -> dict:
    """Map each group to its diffusers Linear; raise listing targets absent or misshapen."""
    targets, problems = {}, []
    for (block, module), group in sorted(groups.items()):
        name = f'blocks.{block}.{_WAN_TO_DIFFUSERS[module]}'
        try:
            layer = transformer.get_submodule(name)
        except AttributeError:
            problems.append(f'{name} (blocks.{block}.{module}): not in the transformer')
            continue
        shape = (group['up'].shape[0], group['down'].shape[1])
        if layer is None or tuple(layer.weight.shape) != shape:
            have = None if layer is None else tuple(layer.weight.shape)
            problems.append(f'{name}: LoRA gives {shape}, weight is {have}')
            continue
        targets[name] = (layer, group)
    if problems:
        raise ValueError('LoRA does not fit the transformer:\n' + '\n'.join(problems))
    return targets


def load_anyrecon_lora(transformer: torch.nn.Module, path, scale: float = 1.0) -> list:
    """Merge an original-layout Wan LoRA (safetensors) into a WanTransformer3DModel.

    Every weight named by the LoRA becomes W + scale * alpha / rank * B @ A.
    Everything is validated before the first weight changes, so an error
    leaves the transformer untouched. Returns the merged diffusers module names.
    """
    path = Path(path)
    refuse_pickle_file(path)
    if path.suffix != SAFETENSORS_SUFFIX:
        raise ValueError(f'refusing {path.name}: only {SAFETENSORS_SUFFIX} LoRA files are loaded')
    targets = _resolve_targets(transformer, _group_lora(load_file(str(path), device='cpu')))
    with torch.no_grad():
        for layer, group in targets.values():
            delta = _lora_delta(group, scale)
            layer.weight.add_(delta.to(device=layer.weight.device, dtype=layer.weight.dtype))
    return list(targets)
