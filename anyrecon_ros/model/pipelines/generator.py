# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A ready-to-run view generator: a checkpoint folder or an untrained tiny model, on a device.

A checkpoint is a diffusers pipeline folder, written by
``AnyReconPipeline.save_pretrained`` and read by ``from_pretrained``:
``model_index.json`` and one sub-folder per part, ``transformer/``
(``AnyReconTransformer``), ``vae/`` (``AutoencoderKLWan``, or the TAEF2
``TinyFrameAutoencoder``, which writes its licence ``TAEF2_LICENSE`` beside
its weights) and ``scheduler/``, with the package's own settings beside them in
``anyrecon.json`` (the working width). Weights are safetensors and are only
read from disk. Folders written before ``model_index.json`` (the same parts
without it) still load.
The package ships a small trained default (``anyrecon_ros/checkpoints/default``,
made by ``tools/train_default.sh``), used when no checkpoint is named.
``untrained`` names the tiny configuration with seeded random weights: it runs
the whole loop (shapes, chunks, timing) but its images are noise, which
callers must say.
"""

from dataclasses import dataclass
import json
import os
from pathlib import Path

from diffusers import AutoencoderKLWan
from diffusers import FlowMatchEulerDiscreteScheduler
import numpy as np
import torch

from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.inpainting import TeleaGenerator
from anyrecon_ros.core.safe_weights import refuse_pickle_only_folder
from anyrecon_ros.model.loaders.official import DTYPES
from anyrecon_ros.model.loaders.official import is_official_checkpoint
from anyrecon_ros.model.loaders.official import load_official_checkpoint
from anyrecon_ros.model.models.transformer import AnyReconTransformer
from anyrecon_ros.model.models.vae import FrameVAE
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipelineOutput
from anyrecon_ros.model.pipelines.pipeline import SIZE_MULTIPLE
from anyrecon_ros.model.pipelines.scheduling import make_scheduler
from anyrecon_ros.model.runtimes.denoisers import OnnxRuntimeDenoiser
from anyrecon_ros.model.runtimes.denoisers import TensorRTDenoiser
from anyrecon_ros.model.runtimes.tensorrt_engine import tensorrt_missing

# Denoiser backends: PyTorch, ONNX Runtime (the exported step), TensorRT where
# installed, and auto: the fastest this machine has.
BACKENDS = ('auto', 'torch', 'onnxruntime', 'tensorrt')
# What auto takes on a CPU: `anyrecon bench` measures the denoiser step in
# ONNX Runtime at about 0.8x PyTorch's speed on the 2-core reference machine.
CPU_BACKEND = 'torch'
# TensorRT engines are built for sequences of up to this many capture views
# (plus the carried frames and a chunk).
TENSORRT_CAPTURE_VIEWS = (1, 4, 8)
CHECKPOINT_PARTS = ('transformer', 'vae', 'scheduler')
# A checkpoint's own settings (JSON): the image width it was trained at.
CHECKPOINT_SETTINGS = 'anyrecon.json'
DEFAULT_WORKING_WIDTH = 256
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / 'checkpoints' / 'default'
UNTRAINED = 'untrained'
# The classical baseline: Telea inpainting of the renders, no model.
INPAINT = 'inpaint'
OFFLOADS = ('none', 'model', 'sequential')


@dataclass
class GeneratorSettings:
    """How views are generated."""

    checkpoint: str = setting('', 'Generator checkpoint folder (model_index.json, '
                              'transformer/, vae/, scheduler/); empty: the shipped default; '
                              'untrained: a random tiny model (noise); inpaint: no model, '
                              'Telea inpainting of the memory renders (the classical '
                              'baseline).')
    backend: str = setting('auto', f'Denoiser backend: {", ".join(BACKENDS)} (auto: TensorRT '
                           'on a CUDA device where installed, else the fastest on this '
                           'machine; onnxruntime and tensorrt run the exported denoiser '
                           'step).')
    device: str = setting('cpu', 'Torch device: cpu, cuda, cuda:1, ...')
    # More than 4 steps: an N-step flow sampler.
    steps: int = setting(4, 'Denoising steps (4: the distilled schedule).', (1, 1000))
    seed: int = setting(0, 'Seed of the generator noise.', (0, 2 ** 31 - 1))
    chunk_frames: int = setting(40, 'Views per generator chunk.', (1, 1000))
    carry_frames: int = 2
    engine_cache: str = ''      # TensorRT engines; '' = ~/.cache/anyrecon_ros/tensorrt
    # The transformer's dtype (bfloat16, float16, float32); '': a prepared official
    # checkpoint's own (bfloat16) on a CUDA device, float32 on the CPU. The VAE
    # and the image encoder keep theirs (float32).
    dtype: str = ''
    # none: every part on the device; model: each part moved there only while it
    # runs (diffusers' model CPU offload); sequential: weights streamed layer by
    # layer (the least GPU memory, the slowest). CUDA devices only. '': the
    # checkpoint's anyrecon.json 'offload' on a CUDA device, else none.
    offload: str = ''


class ViewGenerator:
    """Generate views from capture images and memory renders (see ``AnyReconPipeline``)."""

    def __init__(self, pipeline: AnyReconPipeline, settings: GeneratorSettings,
                 trained: bool, working_width: int = DEFAULT_WORKING_WIDTH,
                 backend: str = 'torch'):
        self.pipeline = pipeline
        self.settings = settings
        self.trained = trained
        # The backend that runs the denoiser (what ``auto`` resolved to).
        self.backend = backend
        # Image width the model was trained at: the loop generates at it by default.
        self.working_width = working_width
        self.size_multiple = SIZE_MULTIPLE

    @classmethod
    def load(cls, settings: GeneratorSettings = GeneratorSettings()) -> 'ViewGenerator':
        """Load ``settings.checkpoint`` (or the untrained tiny model) on ``settings.device``.

        Settings this machine cannot honour (an unavailable backend or
        device) raise ValueError here, before anything runs.
        """
        if settings.checkpoint == INPAINT:
            return TeleaGenerator()
        _check_settings(settings)
        backend = resolve_backend(settings.backend, settings.device)
        working_width = DEFAULT_WORKING_WIDTH
        folder = settings.checkpoint or (DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.is_dir()
                                         else UNTRAINED)
        if folder == UNTRAINED:
            pipeline, trained = untrained_pipeline(settings.seed), False
        elif is_official_checkpoint(folder):
            pipeline, trained = load_official_checkpoint(folder, _official_dtype(settings)), True
            working_width = checkpoint_settings(folder).get('working_width', working_width)
        else:
            pipeline, trained = load_checkpoint(folder), True
            working_width = checkpoint_settings(folder).get('working_width', working_width)
            if settings.dtype:
                pipeline.transformer.to(DTYPES[settings.dtype])
        if backend != 'torch' and pipeline.image_dim is not None:
            raise ValueError(f'backend {backend} runs an exported denoiser step, which has no '
                             'image input; a transformer with an image branch (the official '
                             'weights) runs with backend torch')
        # A checkpoint's offload is for GPUs; on the CPU there is nothing to offload to.
        offload = settings.offload or (
            checkpoint_settings(folder).get('offload', 'none')
            if folder != UNTRAINED and settings.device.startswith('cuda') else 'none')
        _check_offload(offload, settings.device)
        _place(pipeline, settings.device, offload)
        if backend == 'onnxruntime':
            pipeline.transformer = OnnxRuntimeDenoiser(pipeline.transformer,
                                                       providers=_onnx_providers(settings.device))
        elif backend == 'tensorrt':
            pipeline.transformer = TensorRTDenoiser(
                pipeline.transformer, tensorrt_frames(settings),
                settings.engine_cache or _default_engine_cache(), settings.device)
        return cls(pipeline, settings, trained, working_width, backend)

    def generate(self, capture_images: np.ndarray, renders: np.ndarray, masks: np.ndarray,
                 progress=None, render_depths: np.ndarray = None) -> np.ndarray:
        """Return (T, H, W, 3) uint8 views; ``progress(chunk, chunks, step, steps)`` per step.

        ``render_depths`` (T, H, W), the renders' depth, feeds a checkpoint's
        ``'background'`` condition fill.
        """
        return self.generate_views(capture_images, renders, masks, progress,
                                   render_depths).images

    def generate_views(self, capture_images: np.ndarray, renders: np.ndarray,
                       masks: np.ndarray, progress=None,
                       render_depths: np.ndarray = None) -> AnyReconPipelineOutput:
        """Return ``generate``'s views with the model's own output before the blend."""
        generator = torch.Generator().manual_seed(self.settings.seed)
        return self.pipeline(capture_images, renders, masks, render_depths=render_depths,
                             num_inference_steps=self.settings.steps,
                             chunk_frames=self.settings.chunk_frames,
                             carry_frames=self.settings.carry_frames, generator=generator,
                             callback=progress)


def untrained_pipeline(seed: int = 0) -> AnyReconPipeline:
    """Return the tiny configuration with weights drawn from ``seed`` (images are noise)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        transformer = AnyReconTransformer(**AnyReconTransformer.tiny_config())
        vae = AutoencoderKLWan(**FrameVAE.tiny_config())
    return AnyReconPipeline(transformer=transformer.eval(), vae=vae.eval(),
                            scheduler=make_scheduler())


def save_checkpoint(pipeline: AnyReconPipeline, folder, working_width: int = None) -> Path:
    """Write the pipeline with ``save_pretrained`` (safetensors) into ``folder``; return it.

    ``working_width``, the image width the model was trained at, is recorded
    in ``anyrecon.json`` so the loop generates at it by default.
    """
    folder = Path(folder)
    pipeline.save_pretrained(folder, safe_serialization=True)
    if working_width is not None:
        (folder / CHECKPOINT_SETTINGS).write_text(json.dumps({'working_width': working_width}))
    return folder


def load_checkpoint(folder) -> AnyReconPipeline:
    """Load a checkpoint folder written by :func:`save_checkpoint`; never from the hub.

    Weights are read from safetensors only; a part holding only pickles
    (``.bin``, ``.pt``, ...) is refused with ValueError saying why. A folder
    without ``model_index.json`` (the layout before it) loads part by part.
    """
    folder = Path(folder)
    missing = [part for part in CHECKPOINT_PARTS if not (folder / part / _config_name(part))
               .is_file()]
    if missing:
        raise FileNotFoundError(
            f'generator checkpoint {folder} is incomplete: missing '
            + ', '.join(f'{part}/{_config_name(part)}' for part in missing)
            + ' (expected transformer/, vae/ and scheduler/ as save_checkpoint writes them)')
    for part in ('transformer', 'vae'):
        refuse_pickle_only_folder(folder / part)
    if (folder / AnyReconPipeline.config_name).is_file():
        pipeline = AnyReconPipeline.from_pretrained(folder)
    else:
        local = {'local_files_only': True}
        pipeline = AnyReconPipeline(
            transformer=AnyReconTransformer.from_pretrained(
                folder / 'transformer', use_safetensors=True, **local),
            vae=AutoencoderKLWan.from_pretrained(folder / 'vae', use_safetensors=True, **local),
            scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(folder / 'scheduler',
                                                                      **local))
    pipeline.transformer.eval()
    pipeline.vae.eval()
    return pipeline


def _official_dtype(settings: GeneratorSettings) -> str:
    # A prepared official checkpoint records bfloat16 for a GPU; on the CPU float32
    # unless asked (CPU bfloat16 matmuls are slow where they exist at all).
    if settings.dtype:
        return settings.dtype
    return None if settings.device.startswith('cuda') else 'float32'


def _place(pipeline: AnyReconPipeline, device: str, offload: str) -> None:
    """Put the pipeline on its device, whole or with CPU offload."""
    if offload == 'none':
        pipeline.to(torch.device(device))
    elif offload == 'model':
        pipeline.enable_model_cpu_offload(device=device)
    else:
        pipeline.enable_sequential_cpu_offload(device=device)


def _check_offload(offload: str, device: str) -> None:
    if offload not in OFFLOADS:
        raise ValueError(f'offload {offload!r} is not one of {", ".join(OFFLOADS)}')
    if offload != 'none' and not device.startswith('cuda'):
        raise ValueError(f'offload {offload} moves parts between the CPU and a CUDA device; '
                         f'device is {device!r}')


def _onnx_providers(device: str) -> list:
    import onnxruntime
    if device.startswith('cuda'):
        if 'CUDAExecutionProvider' not in onnxruntime.get_available_providers():
            raise ValueError(f'backend onnxruntime on {device!r} needs onnxruntime-gpu (the '
                             'installed onnxruntime has no CUDA provider)')
        return ['CUDAExecutionProvider', 'CPUExecutionProvider']
    return ['CPUExecutionProvider']


def checkpoint_settings(folder) -> dict:
    """Return a checkpoint's ``anyrecon.json`` settings (empty when it has none)."""
    path = Path(folder) / CHECKPOINT_SETTINGS
    if not path.is_file():
        return {}
    settings = json.loads(path.read_text())
    width = settings.get('working_width')
    if width is not None and (not isinstance(width, int) or width < SIZE_MULTIPLE):
        raise ValueError(f'{path}: working_width must be an integer >= {SIZE_MULTIPLE}, '
                         f'got {width!r}')
    return settings


def resolve_backend(backend: str, device: str) -> str:
    """Return the backend that runs the denoiser; ``auto`` takes the fastest available.

    On a CUDA device that is TensorRT where it is installed, else PyTorch; on
    the CPU, ``CPU_BACKEND``. An explicit backend this machine lacks raises
    ValueError naming what is missing.
    """
    cuda = device.startswith('cuda')
    if backend == 'auto':
        if cuda:
            return 'torch' if tensorrt_missing() else 'tensorrt'
        return CPU_BACKEND
    if backend == 'tensorrt':
        missing = tensorrt_missing()
        if missing:
            raise ValueError('backend tensorrt needs the tensorrt package and a CUDA GPU; this '
                             f'machine lacks {" and ".join(missing)} (use backend auto, torch '
                             'or onnxruntime)')
        if not cuda:
            raise ValueError(f'backend tensorrt runs on a CUDA device, not {device!r} '
                             '(set device cuda)')
    return backend


def tensorrt_frames(settings: GeneratorSettings) -> tuple:
    """Return the (min, opt, max) frames of a denoiser engine's profile for ``settings``.

    A sequence is the capture views, the carried frames, then a chunk (the
    last one shorter).
    """
    low, opt, high = TENSORRT_CAPTURE_VIEWS
    tail = settings.carry_frames + settings.chunk_frames
    return low + 1, opt + tail, high + tail


def _default_engine_cache() -> Path:
    cache = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(cache) / 'anyrecon_ros' / 'tensorrt'


def _config_name(part: str) -> str:
    return 'scheduler_config.json' if part == 'scheduler' else 'config.json'


def _check_settings(settings: GeneratorSettings) -> None:
    if settings.backend not in BACKENDS:
        raise ValueError(f'backend {settings.backend!r} is not one of {", ".join(BACKENDS)}')
    if settings.steps < 1 or settings.chunk_frames < 1 or settings.carry_frames < 0:
        raise ValueError('need steps >= 1, chunk_frames >= 1 and carry_frames >= 0')
    if settings.device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {settings.device!r} was asked for but CUDA is not available')
    if settings.dtype and settings.dtype not in DTYPES:
        raise ValueError(f'dtype {settings.dtype!r} is not one of {", ".join(DTYPES)}')
    if settings.offload:
        _check_offload(settings.offload, settings.device)
