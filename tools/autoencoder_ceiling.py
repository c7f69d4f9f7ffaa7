# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The best a checkpoint could do on unseen pixels, were its denoiser perfect.

Every generated pixel passes through the VAE decoder, so encoding and decoding
the ground-truth target view bounds what any denoiser of this checkpoint can
reach. Prints that bound beside Telea inpainting, over the pixels the memory
render does not cover, on the held-out views ``anyrecon eval`` uses.
Usage: .venv/bin/python tools/autoencoder_ceiling.py [CHECKPOINT] [SEED ...]
"""

import sys

import numpy as np
import torch

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.scene_io.working_scene import WorkingScene
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop.evaluation import EvalSettings
from anyrecon_ros.loop.evaluation import inpaint_render
from anyrecon_ros.loop.evaluation import psnr
from anyrecon_ros.loop.evaluation import split_frames
from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import from_unit_range
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import ViewGenerator


def round_trip(vae, rgb: np.ndarray) -> np.ndarray:
    """Return an image encoded and decoded by ``vae``."""
    with torch.no_grad():
        decoded = decode_frames(vae, encode_frames(vae, to_unit_range(rgb[None])))
    return from_unit_range(decoded)[0]


def unseen_psnrs(generator, spec: str, settings: EvalSettings):
    """Yield (inpaint, autoencoder) PSNR over unseen pixels for each target view."""
    scene = WorkingScene(spec, generator.working_width, settings.frames)
    inputs, targets = split_frames(len(scene), settings.inputs, settings.targets)
    memory = GeometryMemory(settings.memory)
    mapper = Mapper(memory, ViewBank())
    for index in inputs:
        mapper.add_keyframe(scene.view(index))
    for index in targets:
        truth = scene.view(index)
        render = memory.render(scene.camera, truth.camera_to_world)
        inpainted, _ = inpaint_render(render)
        yield (psnr(inpainted, truth.rgb, ~render.mask),
               psnr(round_trip(generator.pipeline.vae, truth.rgb), truth.rgb, ~render.mask))


def main(argv) -> int:
    """Print the mean bounds over the given seeds (default 1 2 3)."""
    checkpoint = argv[0] if argv else ''
    seeds = [int(seed) for seed in argv[1:]] or [1, 2, 3]
    generator = ViewGenerator.load(GeneratorSettings(checkpoint=checkpoint))
    rows = np.array([row for seed in seeds
                     for row in unseen_psnrs(generator, f'synthetic:{seed}', EvalSettings())
                     if None not in row])
    inpaint, ceiling = rows.mean(axis=0)
    print(f'{len(rows)} target views, PSNR over unseen pixels: inpainting {inpaint:.2f} dB, '
          f'VAE round trip of the ground truth {ceiling:.2f} dB (the ceiling of any denoiser '
          'with this VAE)')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
