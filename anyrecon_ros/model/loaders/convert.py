# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one place a pickle is opened: converting published weights to safetensors, on request.

AnyRecon's LoRA is published as ``AnyRecon_full_attention.ckpt`` and Wan's VAE
as ``Wan2.1_VAE.pth``: PyTorch pickles. The loaders never open a pickle
(``core.safe_weights``); ``anyrecon convert-lora`` and ``anyrecon
convert-vae`` convert them once, where the user trusts the file:

* the file is read with ``torch.load(weights_only=True)``, PyTorch's
  restricted unpickler, which builds tensors and plain containers only and
  refuses any other object (a class, a function: what a malicious pickle
  needs) before it is built;
* the result must be a flat mapping of names to tensors (a Lightning-style
  ``{"state_dict": {...}}`` wrapper is unwrapped); anything else, e.g. an
  optimizer state or an epoch counter, is refused, naming the entries;
* the output is safetensors, which the loaders read.

LoRA key names are accepted in the original Wan layout
(``blocks.0.self_attn.q.lora_A.weight``, ``lora_down``/``lora_up``,
optional ``diffusion_model.`` prefix) and as peft writes them, which is how
DiffSynth-trained LoRAs such as AnyRecon's are saved
(``blocks.0.self_attn.q.lora_A.default.weight``, optional
``base_model.model.`` prefix); they are written in the original layout.
"""

import json
from pathlib import Path

from safetensors.torch import load_file
from safetensors.torch import save_file
import torch

from anyrecon_ros.core.safe_weights import PICKLE_SUFFIXES
from anyrecon_ros.core.safe_weights import SAFETENSORS_SUFFIX
from anyrecon_ros.model.loaders.official import group_lora
from anyrecon_ros.model.loaders.official import normalise_lora_key


class RefusedWeightsError(ValueError):
    """Raised when a weights file is not a plain set of named tensors; says why."""


def read_tensors(path) -> dict:
    """Return ``{name: tensor}`` from a safetensors file or a tensors-only pickle.

    Pickles (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) are read with
    ``torch.load(weights_only=True)``; a file holding anything but tensors in
    plain containers is refused with RefusedWeightsError, saying why.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path} does not exist')
    if path.suffix == SAFETENSORS_SUFFIX:
        return load_file(str(path), device='cpu')
    if path.suffix not in PICKLE_SUFFIXES:
        raise RefusedWeightsError(f'refusing {path.name}: expected a {SAFETENSORS_SUFFIX} file or '
                                  f'a PyTorch pickle ({", ".join(PICKLE_SUFFIXES)})')
    try:
        content = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # the restricted unpickler's refusal, or a damaged file
        raise RefusedWeightsError(
            f'refusing {path.name}: torch.load(weights_only=True) cannot read it, so it holds '
            'objects other than tensors in plain containers (or is damaged); only a pickle of '
            f'named tensors is converted. PyTorch said: {str(error).splitlines()[0]}') from None
    return _named_tensors(path, content)


def _named_tensors(path: Path, content) -> dict:
    if isinstance(content, dict) and set(content) == {'state_dict'}:
        content = content['state_dict']
    if not isinstance(content, dict):
        raise RefusedWeightsError(f'refusing {path.name}: it holds a {type(content).__name__}, '
                                  'not a mapping of names to tensors')
    others = sorted(f'{key} ({type(value).__name__})' for key, value in content.items()
                    if not isinstance(key, str) or not isinstance(value, torch.Tensor))
    if others:
        raise RefusedWeightsError(
            f'refusing {path.name}: {len(others)} entr{"y is" if len(others) == 1 else "ies are"}'
            ' not tensors: ' + ', '.join(others[:8]) + (' ...' if len(others) > 8 else '')
            + '; only a mapping of names to tensors is converted')
    return content


def convert_lora(source, target) -> dict:
    """Write the LoRA in ``source`` (.ckpt or safetensors) to safetensors ``target``.

    Keys are normalised to the original Wan layout (see the module
    docstring) and checked: every tensor must be a LoRA matrix (or alpha) of
    a Wan module with both matrices present. Returns a summary: modules,
    rank, tensors.
    """
    target = Path(target)
    if target.suffix != SAFETENSORS_SUFFIX:
        raise ValueError(f'the output must be a {SAFETENSORS_SUFFIX} file, got {target.name}')
    tensors = read_tensors(source)
    normalised = {}
    for key, tensor in tensors.items():
        name = normalise_lora_key(key)
        if name in normalised:
            raise ValueError(f'{key} and another key both name {name}')
        normalised[name] = tensor.contiguous()
    groups = group_lora(normalised)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(normalised, str(target), metadata={'format': 'pt', 'layout': 'wan-original'})
    ranks = sorted({group['down'].shape[0] for group in groups.values()})
    return {'modules': len(groups), 'ranks': ranks, 'tensors': len(normalised)}


def convert_vae(source, target_folder, config: dict = None) -> Path:
    """Write Wan's original-layout VAE (``Wan2.1_VAE.pth``) as a diffusers ``vae/`` folder.

    The keys are converted by diffusers' ``convert_wan_vae_to_diffusers``
    into an ``AutoencoderKLWan`` of ``config`` (default: Wan2.1's VAE),
    loaded strictly (every weight present, none left over), and saved with
    ``save_pretrained`` (config.json and safetensors).
    """
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
    tensors = read_tensors(source)
    converted = convert_wan_vae_to_diffusers(tensors)
    vae = AutoencoderKLWan(**(config or {}))
    vae.load_state_dict(converted, strict=True)
    target_folder = Path(target_folder)
    vae.save_pretrained(target_folder, safe_serialization=True)
    return target_folder


def read_config(path) -> dict:
    """Return a JSON config file's content (for ``convert-vae --config``)."""
    return json.loads(Path(path).read_text())
