# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Official weights: the local Wan2.1-I2V-14B-720P base model and AnyRecon's LoRA.

Everything is read from local folders only (``local_files_only=True``); no
hub access is ever attempted, and only safetensors are read (the published
pickles go through ``anyrecon convert-lora`` / ``convert-vae`` first, see
:mod:`.convert`). The base model folder is checked before any weight is
read, so a missing 10 GB shard is reported at once, together with every
other missing file, instead of after minutes of loading.

The base model is accepted in two layouts:

* ``Wan2.1-I2V-14B-720P-Diffusers``: one sub-folder per part
  (``transformer/``, ``vae/``, ``image_encoder/``, ``image_processor/``,
  ``text_encoder/``, ``tokenizer/``, ``scheduler/``);
* ``Wan2.1-I2V-14B-720P``, the original layout the official sampler loads:
  the transformer as ``config.json`` and ``diffusion_pytorch_model-*-of-
  00007.safetensors`` at the top, converted on load by diffusers' own
  ``convert_wan_transformer_to_diffusers``; the VAE as ``vae/`` made from
  ``Wan2.1_VAE.pth`` by ``anyrecon convert-vae`` (diffusers'
  ``convert_wan_vae_to_diffusers``); the tokenizer from ``google/umt5-xxl/``.
  Its CLIP and UMT5 pickles are in open_clip's and Wan's own formats, for
  which diffusers has no conversion (its own Wan conversion takes the
  equivalent Hugging Face models instead), so ``image_encoder/``,
  ``image_processor/`` and ``text_encoder/`` are taken from the Diffusers
  repository, copied beside them.

AnyRecon's LoRA (original Wan key layout, or peft's with ``.default``) is
merged into the transformer's weights: W += scale * alpha / rank * B @ A
(alpha defaults to the rank, which gives DiffSynth's W += scale * B @ A),
so inference needs no LoRA machinery and runs at full speed.

A prepared official checkpoint (:func:`prepare_official_checkpoint`,
``anyrecon prepare-official``) is a small folder that names the base model
and the LoRA and records how to sample (``model_index.json``: the official
settings), the transformer's configuration (``transformer/config.json``:
full attention) and the empty-prompt embedding, computed once with the
UMT5 encoder (``empty_prompt.safetensors``); :func:`load_official_checkpoint`
builds the pipeline from it without loading the text encoder.
"""

import gc
import inspect
import json
from pathlib import Path
import re

from diffusers import AutoencoderKLWan
from diffusers import FlowMatchEulerDiscreteScheduler
from safetensors import safe_open
from safetensors.torch import load_file
import torch

from anyrecon_ros.core.safe_weights import refuse_pickle_file
from anyrecon_ros.core.safe_weights import SAFETENSORS_SUFFIX
from anyrecon_ros.model.models.conditioning import encode_empty_prompt
from anyrecon_ros.model.models.conditioning import load_empty_prompt
from anyrecon_ros.model.models.conditioning import save_empty_prompt
from anyrecon_ros.model.models.transformer import AnyReconTransformer
from anyrecon_ros.model.models.transformer import WAN_TEXT_SEQ_LEN
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
from anyrecon_ros.model.pipelines.pipeline import OFFICIAL_SAMPLING
from anyrecon_ros.model.pipelines.scheduling import make_scheduler

WAN_MODEL = 'Wan2.1-I2V-14B-720P'
WAN_DIFFUSERS_MODEL = 'Wan2.1-I2V-14B-720P-Diffusers'
WAN_I2V_PARTS = ('transformer', 'vae', 'image_encoder', 'image_processor',
                 'text_encoder', 'tokenizer', 'scheduler')
# What generating needs; the text encoder and tokenizer serve only to prepare.
GENERATION_PARTS = ('transformer', 'vae', 'image_encoder', 'image_processor')
PROMPT_PARTS = ('text_encoder', 'tokenizer')
# The official sampler's size (512x896) and dtype.
OFFICIAL_WIDTH = 896
OFFICIAL_DTYPE = 'bfloat16'
DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16, 'float32': torch.float32}
# A prepared official checkpoint's own settings (the same file as other checkpoints').
SETTINGS_FILE = 'anyrecon.json'

_DIFFUSERS_WEIGHTS = ('diffusion_pytorch_model.safetensors',
                      'diffusion_pytorch_model.safetensors.index.json')
_HF_WEIGHTS = ('model.safetensors', 'model.safetensors.index.json')
# Per part, diffusers layout: config file and weights (single file, sharded index).
_DIFFUSERS_FILES = {
    'transformer': ('config.json', _DIFFUSERS_WEIGHTS),
    'vae': ('config.json', _DIFFUSERS_WEIGHTS),
    'image_encoder': ('config.json', _HF_WEIGHTS),
    'image_processor': ('preprocessor_config.json', None),
    'text_encoder': ('config.json', _HF_WEIGHTS),
    'tokenizer': ('tokenizer_config.json', None),
    'scheduler': ('scheduler_config.json', None),
}
# The original layout's files: where a part is read from there, or which pickle
# stands for it and what to do about it.
_ORIGINAL_TOKENIZER = 'google/umt5-xxl'
_ORIGINAL_PICKLES = {
    'vae': ('Wan2.1_VAE.pth', 'convert it: anyrecon convert-vae {path} {root}/vae'),
    'image_encoder': ('models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth',
                      f'copy image_encoder/ from {WAN_DIFFUSERS_MODEL} beside it (the open_clip '
                      'format, which diffusers does not convert)'),
    'text_encoder': ('models_t5_umt5-xxl-enc-bf16.pth',
                     f'copy text_encoder/ from {WAN_DIFFUSERS_MODEL} beside it (the Wan T5 '
                     'format, which diffusers does not convert)'),
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
# peft's names: an adapter name between the matrix and ``weight``.
_PEFT_ADAPTER = re.compile(r'\.(lora_A|lora_B)\.[A-Za-z0-9_]+\.weight$')
_ROLE = {'lora_A': 'down', 'lora_down': 'down', 'lora_B': 'up', 'lora_up': 'up'}
_PREFIXES = ('diffusion_model.', 'base_model.model.')


class MissingWeightsError(FileNotFoundError):
    """Raised when a local weights folder lacks files; the message lists all of them."""


# ---------------------------------------------------------------------------
# The base model folder: which layout, which files are missing.

def _weights_missing(folder: Path, names, prefix: str) -> list:
    """Return the missing weight files of ``folder``: a single file, or an index and its shards."""
    single, index = names
    if (folder / single).is_file():
        return []
    if not (folder / index).is_file():
        return [f'{prefix}{single} or {prefix}{index}']
    shards = sorted(set(json.loads((folder / index).read_text()).get('weight_map', {}).values()))
    return [f'{prefix}{shard} (named by {prefix}{index})' for shard in shards
            if not (folder / shard).is_file()]


def _diffusers_missing(root: Path, part: str) -> list:
    folder, (config, weights) = root / part, _DIFFUSERS_FILES[part]
    if not folder.is_dir():
        return [f'{part}/']
    missing = [] if (folder / config).is_file() else [f'{part}/{config}']
    if weights:
        missing += _weights_missing(folder, weights, f'{part}/')
    return missing


def _is_original_transformer(root: Path) -> bool:
    return (root / 'config.json').is_file() and any(root.glob('diffusion_pytorch_model*'))


def _locate(root: Path, part: str):
    """Return ``(source, missing)``: where ``part`` is read from, or what is missing."""
    if part == 'transformer' and not (root / part).is_dir() and (
            _is_original_transformer(root) or (root / _DIFFUSERS_WEIGHTS[1]).is_file()):
        missing = [] if (root / 'config.json').is_file() else ['config.json']
        return ('original', root), missing + _weights_missing(root, _DIFFUSERS_WEIGHTS, '')
    original_tokenizer = root / _ORIGINAL_TOKENIZER
    if part == 'tokenizer' and not (root / part).is_dir() and original_tokenizer.is_dir():
        folder = root / _ORIGINAL_TOKENIZER
        missing = [] if (folder / 'tokenizer_config.json').is_file() else [
            f'{_ORIGINAL_TOKENIZER}/tokenizer_config.json']
        return ('diffusers', folder), missing
    missing = _diffusers_missing(root, part)
    pickle = _ORIGINAL_PICKLES.get(part)
    if missing and pickle and (root / pickle[0]).is_file():
        hint = pickle[1].format(path=root / pickle[0], root=root)
        missing = [f'{missing[0]} ({pickle[0]} is there, a pickle, which is not read: {hint})',
                   *missing[1:]]
    return ('diffusers', root / part), missing


def _layout_text() -> str:
    lines = [f'expected {WAN_MODEL} in one of two layouts:',
             f'  diffusers layout ({WAN_DIFFUSERS_MODEL}):']
    for part, (config, weights) in _DIFFUSERS_FILES.items():
        names = [config] + ([' or '.join(weights)] if weights else [])
        lines.append(f'    {part}/: ' + ', '.join(names))
    lines += [f'  original layout ({WAN_MODEL}): config.json and diffusion_pytorch_model-*.'
              'safetensors with their index at the top (the transformer), vae/ converted from '
              'Wan2.1_VAE.pth (anyrecon convert-vae), image_encoder/, image_processor/ and '
              f'text_encoder/ from {WAN_DIFFUSERS_MODEL}, the tokenizer in '
              f'{_ORIGINAL_TOKENIZER}/ or tokenizer/']
    return '\n'.join(lines)


def locate_wan_i2v_parts(root, parts=WAN_I2V_PARTS) -> dict:
    """Return ``{part: (layout, path)}`` for ``parts`` of the base model in ``root``.

    Raises MissingWeightsError listing every missing file of every part
    (exactly which, and where), and what to do about a pickle that stands
    where a part is expected, before any weight is read.
    """
    root = Path(root)
    unknown = sorted(set(parts) - set(_DIFFUSERS_FILES))
    if unknown:
        raise ValueError(f'unknown Wan I2V parts {unknown}; known: {list(_DIFFUSERS_FILES)}')
    if not root.is_dir():
        raise MissingWeightsError(f'no such folder: {root}\n{_layout_text()}')
    located, missing = {}, []
    for part in parts:
        source, lacking = _locate(root, part)
        located[part] = source
        missing += lacking
    if missing:
        raise MissingWeightsError(
            f'{root} lacks {len(missing)} item(s) of {WAN_MODEL}; missing in {root}:\n'
            + '\n'.join(f'  {item}' for item in missing) + '\n' + _layout_text())
    return located


def check_wan_i2v_folder(root, parts=WAN_I2V_PARTS) -> Path:
    """Check that ``root`` holds the files of ``parts``; raise MissingWeightsError if not."""
    locate_wan_i2v_parts(root, parts)
    return Path(root)


# ---------------------------------------------------------------------------
# Loading the parts.

def _transformer_config(layout: str, folder: Path, overrides: dict = None) -> dict:
    """Return AnyReconTransformer's configuration for a base transformer's config.json."""
    config = json.loads((folder / 'config.json').read_text())
    if layout == 'original':
        # Wan's own config.json (WanModel); text_dim, image_dim and patch_size are
        # fixed in Wan's code and read here only when a (tiny) config carries them.
        i2v = config.get('model_type', 'i2v') == 'i2v'
        config = {
            'patch_size': config.get('patch_size', (1, 2, 2)),
            'num_attention_heads': config['num_heads'],
            'attention_head_dim': config['dim'] // config['num_heads'],
            'in_channels': config['in_dim'], 'out_channels': config['out_dim'],
            'text_dim': config.get('text_dim', 4096), 'freq_dim': config['freq_dim'],
            'ffn_dim': config['ffn_dim'], 'num_layers': config['num_layers'],
            'eps': config.get('eps', 1e-6),
            'image_dim': config.get('image_dim', 1280) if i2v else None,
            'added_kv_proj_dim': config['dim'] if i2v else None,
            'text_seq_len': config.get('text_len', WAN_TEXT_SEQ_LEN),
        }
    accepted = set(inspect.signature(AnyReconTransformer.__init__).parameters) - {'self'}
    config = {key: value for key, value in config.items() if key in accepted}
    config.update(overrides or {})
    return config


def _shard_files(folder: Path) -> list:
    single, index = _DIFFUSERS_WEIGHTS
    if (folder / single).is_file():
        return [folder / single]
    weight_map = json.loads((folder / index).read_text())['weight_map']
    return [folder / name for name in sorted(set(weight_map.values()))]


def _keeps_float32(name: str) -> bool:
    # diffusers keeps these Wan modules in float32 whatever the dtype (its
    # _keep_in_fp32_modules): the modulation tables, norms and time embedding.
    return any(part in name for part in AnyReconTransformer._keep_in_fp32_modules)


def load_transformer(root, dtype: torch.dtype = torch.bfloat16, overrides: dict = None,
                     located: dict = None) -> AnyReconTransformer:
    """Load the base transformer (either layout) as an AnyReconTransformer in ``dtype``.

    The model is built without weights and filled shard by shard, each tensor
    cast as it is read, so host memory peaks at the model in ``dtype`` plus
    one shard. Original-layout keys are converted by diffusers'
    ``convert_wan_transformer_to_diffusers``. Every weight must be present
    and none left over. ``overrides`` are AnyReconTransformer settings
    (``sparse_attention`` ...).
    """
    from accelerate import init_empty_weights
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
    layout, folder = (located or locate_wan_i2v_parts(root, ('transformer',)))['transformer']
    config = _transformer_config(layout, folder, overrides)
    with init_empty_weights(include_buffers=False):
        transformer = AnyReconTransformer(**config)
    expected = {name for name, _ in transformer.named_parameters()}
    loaded, unexpected = set(), []
    for shard in _shard_files(folder):
        tensors = load_file(str(shard), device='cpu')
        if layout == 'original':
            tensors = convert_wan_transformer_to_diffusers(tensors)
        unexpected += [name for name in tensors if name not in expected]
        tensors = {name: tensor.to(torch.float32 if _keeps_float32(name) else dtype)
                   for name, tensor in tensors.items() if name in expected}
        transformer.load_state_dict(tensors, strict=False, assign=True)
        loaded |= set(tensors)
        del tensors
        gc.collect()
    absent = sorted(expected - loaded)
    if absent or unexpected:
        raise ValueError(f'the {WAN_MODEL} transformer in {folder} does not fit the model its '
                         f'config.json describes: {len(absent)} weight(s) absent '
                         f'({", ".join(absent[:5])}), {len(unexpected)} left over '
                         f'({", ".join(sorted(unexpected)[:5])})')
    transformer.empty_prompt_embedding = transformer.empty_prompt_embedding.to(dtype)
    return transformer.eval()


def load_vae(root, located: dict = None) -> AutoencoderKLWan:
    """Load the base model's VAE in float32 (the Wan pipelines keep it so: small, and exact)."""
    _, folder = (located or locate_wan_i2v_parts(root, ('vae',)))['vae']
    return AutoencoderKLWan.from_pretrained(folder, torch_dtype=torch.float32,
                                            local_files_only=True, use_safetensors=True).eval()


def _transformers():
    # Imported late: only the image and text encoders need transformers.
    try:
        import transformers
    except ImportError as exc:
        raise ImportError('the Wan image and text encoders need the transformers package') \
            from exc
    return transformers


def load_image_encoder(root, located: dict = None, dtype: torch.dtype = torch.float32):
    """Load Wan's CLIP vision tower (``CLIPVisionModel``) and its processor, from local files."""
    located = located or locate_wan_i2v_parts(root, ('image_encoder', 'image_processor'))
    transformers = _transformers()
    encoder = transformers.CLIPVisionModel.from_pretrained(
        located['image_encoder'][1], dtype=dtype, local_files_only=True, use_safetensors=True)
    processor = transformers.CLIPImageProcessor.from_pretrained(
        located['image_processor'][1], local_files_only=True)
    return encoder.eval(), processor


def load_text_encoder(root, located: dict = None, dtype: torch.dtype = torch.bfloat16):
    """Load Wan's UMT5 text encoder and its tokenizer, from local files."""
    located = located or locate_wan_i2v_parts(root, PROMPT_PARTS)
    transformers = _transformers()
    encoder = transformers.UMT5EncoderModel.from_pretrained(
        located['text_encoder'][1], dtype=dtype, local_files_only=True, use_safetensors=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(located['tokenizer'][1],
                                                           local_files_only=True)
    return encoder.eval(), tokenizer


def load_wan_i2v_components(root, torch_dtype=torch.bfloat16, parts=WAN_I2V_PARTS) -> dict:
    """Load the parts of a local Wan2.1-I2V-14B-720P folder (either layout), by part name.

    The folder is checked first (see :func:`locate_wan_i2v_parts`); nothing
    is loaded unless every file of every requested part is there. The
    transformer is in ``torch_dtype``, the VAE and image encoder in float32,
    the text encoder in ``torch_dtype``.
    """
    located = locate_wan_i2v_parts(root, parts)
    components = {}
    if 'transformer' in parts:
        components['transformer'] = load_transformer(root, torch_dtype, located=located)
    if 'vae' in parts:
        components['vae'] = load_vae(root, located)
    transformers = _transformers() if {'image_encoder', 'image_processor', 'text_encoder',
                                       'tokenizer'} & set(parts) else None
    for part in ('image_encoder', 'text_encoder'):
        if part in parts:
            model = (transformers.CLIPVisionModel if part == 'image_encoder'
                     else transformers.UMT5EncoderModel)
            components[part] = model.from_pretrained(
                located[part][1], local_files_only=True, use_safetensors=True,
                dtype=torch.float32 if part == 'image_encoder' else torch_dtype).eval()
    if 'image_processor' in parts:
        components['image_processor'] = transformers.CLIPImageProcessor.from_pretrained(
            located['image_processor'][1], local_files_only=True)
    if 'tokenizer' in parts:
        components['tokenizer'] = transformers.AutoTokenizer.from_pretrained(
            located['tokenizer'][1], local_files_only=True)
    if 'scheduler' in parts:
        components['scheduler'] = FlowMatchEulerDiscreteScheduler.from_pretrained(
            located['scheduler'][1], local_files_only=True)
    return components


# ---------------------------------------------------------------------------
# The LoRA.

def normalise_lora_key(key: str) -> str:
    """Return a LoRA key in the original Wan layout (``blocks.0.self_attn.q.lora_A.weight``).

    Strips ``diffusion_model.`` / ``base_model.model.`` and peft's adapter
    name (``lora_A.default.weight`` -> ``lora_A.weight``); other keys are
    returned unchanged.
    """
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    return _PEFT_ADAPTER.sub(r'.\1.weight', key)


def group_lora(state_dict: dict) -> dict:
    """Group LoRA tensors by (block, Wan module); raise listing keys that do not fit."""
    groups, unmatched = {}, []
    for key, tensor in state_dict.items():
        match = _LORA_KEY.match(normalise_lora_key(key))
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


def _refuse_non_safetensors(path: Path) -> None:
    try:
        refuse_pickle_file(path)
    except ValueError as error:
        raise ValueError(f'{error}; for a LoRA: anyrecon convert-lora {path} '
                         f'{path.with_suffix(SAFETENSORS_SUFFIX)}') from None
    if path.suffix != SAFETENSORS_SUFFIX:
        raise ValueError(f'refusing {path.name}: only {SAFETENSORS_SUFFIX} LoRA files are loaded')


def load_anyrecon_lora(transformer: torch.nn.Module, path, scale: float = 1.0) -> list:
    """Merge a Wan LoRA (safetensors; original or peft key names) into a WanTransformer3DModel.

    Every weight named by the LoRA becomes W + scale * alpha / rank * B @ A.
    Everything is validated before the first weight changes, so an error
    leaves the transformer untouched. Returns the merged diffusers module names.
    """
    path = Path(path)
    _refuse_non_safetensors(path)
    targets = _resolve_targets(transformer, group_lora(load_file(str(path), device='cpu')))
    with torch.no_grad():
        for layer, group in targets.values():
            delta = _lora_delta(group, scale)
            layer.weight.add_(delta.to(device=layer.weight.device, dtype=layer.weight.dtype))
    return list(targets)


def check_lora_file(path) -> int:
    """Check a LoRA file's names without reading its tensors; return its module count."""
    path = Path(path)
    _refuse_non_safetensors(path)
    if not path.is_file():
        raise FileNotFoundError(f'LoRA file {path} does not exist')
    with safe_open(str(path), framework='pt') as handle:
        names = list(handle.keys())
    return len(group_lora({name: torch.empty(1) for name in names if 'alpha' not in name}
                          | {name: torch.ones(()) for name in names if 'alpha' in name}))


# ---------------------------------------------------------------------------
# Prepared official checkpoints.

def is_official_checkpoint(folder) -> bool:
    """Return whether ``folder`` is a prepared official checkpoint (names a base model)."""
    path = Path(folder) / SETTINGS_FILE
    return path.is_file() and 'base_model' in json.loads(path.read_text())


def prepare_official_checkpoint(base, lora, out, *, sparse_attention: bool = False,
                                working_width: int = OFFICIAL_WIDTH, dtype: str = OFFICIAL_DTYPE,
                                text_encoder_dtype: str = OFFICIAL_DTYPE, lora_scale: float = 1.0,
                                offload: str = 'none', device: str = 'cpu') -> Path:
    """Write a checkpoint folder ``out`` that runs the official weights as the official sampler.

    ``base`` is the local Wan2.1-I2V-14B-720P folder (either layout), ``lora``
    AnyReconLoRA as safetensors (``anyrecon convert-lora`` makes it from the
    published ``.ckpt``). Checked first: every file generation needs, and the
    LoRA's key names. Then the empty prompt is encoded once with the local
    UMT5 encoder (in ``text_encoder_dtype`` on ``device``; freed afterwards)
    and stored; the official sampling settings, the transformer's
    configuration (full attention unless ``sparse_attention``) and the
    scheduler are written beside it. Weights are not copied: ``anyrecon.json``
    names ``base`` and ``lora``; ``dtype`` is the transformer's and ``offload``
    the CPU offload (none, model, sequential) on a GPU.
    """
    base, lora, out = Path(base).resolve(), Path(lora).resolve(), Path(out)
    located = locate_wan_i2v_parts(base, GENERATION_PARTS + PROMPT_PARTS)
    check_lora_file(lora)
    if dtype not in DTYPES or text_encoder_dtype not in DTYPES:
        raise ValueError(f'dtypes must be one of {", ".join(DTYPES)}')
    layout, folder = located['transformer']
    config = _transformer_config(layout, folder, {'sparse_attention': sparse_attention})
    if config.get('image_dim') is None:
        raise ValueError(f'{folder} holds no image-to-video transformer (no image_dim): AnyRecon '
                         f'fine-tunes {WAN_MODEL}')
    text_encoder, tokenizer = load_text_encoder(base, located, DTYPES[text_encoder_dtype])
    embedding = encode_empty_prompt(text_encoder.to(device), tokenizer,
                                    seq_len=config.get('text_seq_len', WAN_TEXT_SEQ_LEN))
    del text_encoder
    gc.collect()
    if embedding.shape[-1] != config['text_dim']:
        raise ValueError(f'the text encoder gives {embedding.shape[-1]} features; the '
                         f'transformer takes {config["text_dim"]}')
    out.mkdir(parents=True, exist_ok=True)
    save_empty_prompt(out, embedding)
    (out / 'transformer').mkdir(exist_ok=True)
    (out / 'transformer' / 'config.json').write_text(json.dumps(
        {'_class_name': 'AnyReconTransformer', **config}, indent=2, sort_keys=True) + '\n')
    make_scheduler().save_pretrained(out / 'scheduler')
    index = {'_class_name': 'AnyReconPipeline', **OFFICIAL_SAMPLING,
             'transformer': ['anyrecon_ros.model.models.transformer', 'AnyReconTransformer'],
             'vae': ['diffusers', 'AutoencoderKLWan'],
             'scheduler': ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
             'image_encoder': ['transformers', 'CLIPVisionModel'],
             'image_processor': ['transformers', 'CLIPImageProcessor']}
    (out / 'model_index.json').write_text(json.dumps(index, indent=2, sort_keys=True) + '\n')
    if offload not in ('none', 'model', 'sequential'):
        raise ValueError(f'offload must be none, model or sequential, got {offload!r}')
    settings = {'base_model': str(base), 'lora': str(lora), 'lora_scale': lora_scale,
                'dtype': dtype, 'offload': offload, 'working_width': working_width}
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + '\n')
    return out


def load_official_checkpoint(folder, dtype: str = None) -> AnyReconPipeline:
    """Build the pipeline a prepared official checkpoint describes, on the CPU.

    The transformer is loaded from the base model in ``dtype`` (default: the
    checkpoint's), the LoRA merged, the stored empty prompt set; the VAE and
    the image encoder in float32; the sampling settings from
    ``model_index.json``. The text encoder is not loaded.
    """
    folder = Path(folder)
    settings = json.loads((folder / SETTINGS_FILE).read_text())
    dtype = dtype or settings.get('dtype', OFFICIAL_DTYPE)
    if dtype not in DTYPES:
        raise ValueError(f'dtype must be one of {", ".join(DTYPES)}, got {dtype!r}')
    base = Path(settings['base_model'])
    lora = Path(settings['lora'])
    lora = lora if lora.is_absolute() else folder / lora
    located = locate_wan_i2v_parts(base, GENERATION_PARTS)
    check_lora_file(lora)
    overrides = json.loads((folder / 'transformer' / 'config.json').read_text())
    overrides = {key: value for key, value in overrides.items() if not key.startswith('_')}
    transformer = load_transformer(base, DTYPES[dtype], overrides, located)
    load_anyrecon_lora(transformer, lora, settings.get('lora_scale', 1.0))
    embedding = load_empty_prompt(folder)
    if tuple(embedding.shape[1:]) != tuple(transformer.empty_prompt_embedding.shape[1:]):
        raise ValueError(f'{folder}: the stored empty prompt is {tuple(embedding.shape)}; the '
                         f'transformer takes {tuple(transformer.empty_prompt_embedding.shape)}')
    transformer.empty_prompt_embedding = embedding.to(DTYPES[dtype])
    image_encoder, image_processor = load_image_encoder(base, located)
    index = json.loads((folder / 'model_index.json').read_text())
    sampling = {key: index[key] for key in OFFICIAL_SAMPLING if key in index}
    return AnyReconPipeline(
        transformer=transformer, vae=load_vae(base, located),
        scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(folder / 'scheduler',
                                                                  local_files_only=True),
        image_encoder=image_encoder, image_processor=image_processor, **sampling)
