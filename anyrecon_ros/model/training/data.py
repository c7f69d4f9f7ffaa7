# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training samples: what the generator is trained on, made the way the loop uses it.

A clip of frames is taken along a random camera walk through a procedural
scene (or from a posed-scene folder); the paper's conditioning sampling picks
the first frame as the base reference plus 2-4 more views, half the time from
the first half of the clip and half the time from the whole clip; those views
build a geometry memory, which is rendered into every frame of the clip to
make the renders and visibility masks the generator is conditioned on.
``encode_sample`` turns a sample into the latent sequence the transformer
sees, captures first.
"""

from dataclasses import dataclass
import math

import numpy as np
import torch

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.procedural_scene import ROOM_SIZE
from anyrecon_ros.core.scene_io.working_scene import WorkingScene
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import mask_to_latent
from anyrecon_ros.model.models.vae import to_unit_range

# Procedural seeds the evaluation and the tests use; training never draws them.
EVALUATION_SEEDS = range(0, 100)
TRAINING_SEEDS = range(1000, 100000)


@dataclass
class Sample:
    """One training sequence: K capture views, then T frames with renders and masks."""

    captures: np.ndarray    # (K, H, W, 3) uint8
    frames: np.ndarray      # (T, H, W, 3) uint8, the truth
    renders: np.ndarray     # (T, H, W, 3) uint8, the memory rendered into each frame
    masks: np.ndarray       # (T, H, W) bool, True where the memory was visible


@dataclass
class DataConfig:
    """How training samples are made."""

    width: int = 128
    height: int = 96
    clip_frames: int = 8
    step: float = 0.25            # metres between consecutive frames of a walk
    turn: float = math.radians(12.0)  # radians of turn between consecutive frames
    voxel_size: float = 0.03
    scene_folders: tuple = ()     # posed-scene folders drawn beside procedural scenes
    procedural_share: float = 1.0  # share of samples from procedural scenes if folders exist


def conditioning_indices(rng: np.random.Generator, frames: int) -> list:
    """Return the paper's conditioning views: frame 0 plus 2-4 more, sorted.

    The extra views come from the first half of the clip half the time (so
    the rest of the clip must be extrapolated) and from the whole clip
    otherwise (interpolation).
    """
    extra = int(rng.integers(2, 5))
    # The first half, but at least two frames besides frame 0.
    first_half = np.arange(1, max(3, math.ceil(frames / 2)))
    pool = first_half if rng.random() < 0.5 else np.arange(1, frames)
    chosen = rng.choice(pool, size=min(extra, len(pool)), replace=False)
    return [0] + sorted(int(index) for index in chosen)


def random_walk(rng: np.random.Generator, frames: int, config: DataConfig) -> np.ndarray:
    """Return (frames, 4, 4) poses of a smooth walk inside the first room of a procedural scene."""
    length, depth, _ = ROOM_SIZE
    position = np.array([rng.uniform(1.0, length - 1.0), rng.uniform(1.0, depth - 1.0),
                         rng.uniform(1.1, 1.7)])
    heading, pitch = rng.uniform(0, 2 * np.pi), rng.uniform(-0.25, 0.1)
    turn_rate = rng.uniform(-1, 1) * config.turn
    poses = []
    for _ in range(frames):
        direction = np.array([np.cos(heading) * np.cos(pitch), np.sin(heading) * np.cos(pitch),
                              np.sin(pitch)])
        poses.append(look_at(position, position + direction))
        heading += turn_rate
        step = config.step * np.array([np.cos(heading), np.sin(heading), 0.0])
        # Stay inside the room: turn back instead of walking into a wall.
        if not (0.5 < position[0] + step[0] < length - 0.5
                and 0.5 < position[1] + step[1] < depth - 0.5):
            heading += np.pi / 2
            continue
        position = position + step
    return np.array(poses)


class SampleMaker:
    """Make training samples from procedural scenes (and posed-scene folders)."""

    def __init__(self, config: DataConfig = DataConfig(), seeds=TRAINING_SEEDS):
        if set(seeds) & set(EVALUATION_SEEDS):
            raise ValueError('training seeds overlap the evaluation seeds '
                             f'{EVALUATION_SEEDS.start}-{EVALUATION_SEEDS.stop - 1}')
        self.config = config
        self.seeds = list(seeds)
        self.camera = default_camera().scaled(config.width, config.height)
        self._scenes = {}
        self._folders = [self._open_folder(path) for path in config.scene_folders]

    def _open_folder(self, path):
        return WorkingScene(str(path), self.config.width)

    def sample(self, rng: np.random.Generator) -> Sample:
        """Make a sample; the same generator state gives the same sample."""
        frames = self.config.clip_frames
        if self._folders and rng.random() >= self.config.procedural_share:
            views = self._folder_clip(rng, frames)
        else:
            scene = self._scene(int(rng.choice(self.seeds)))
            views = [scene.capture_view(self.camera, pose, index)
                     for index, pose in enumerate(random_walk(rng, frames, self.config))]
        return self._condition(views, conditioning_indices(rng, frames))

    def _scene(self, seed):
        if seed not in self._scenes:
            if len(self._scenes) > 16:  # a few scenes at a time: each holds a ray caster
                self._scenes.pop(next(iter(self._scenes)))
            self._scenes[seed] = ProceduralScene(seed=seed)
        return self._scenes[seed]

    def _folder_clip(self, rng, frames):
        folder = self._folders[int(rng.integers(len(self._folders)))]
        stride = int(rng.integers(1, 4))
        start = int(rng.integers(0, max(1, len(folder) - stride * frames)))
        indices = [min(start + stride * i, len(folder) - 1) for i in range(frames)]
        return [folder.view(index) for index in indices]

    def _condition(self, views, chosen) -> Sample:
        memory = GeometryMemory(MemoryConfig(voxel_size=self.config.voxel_size))
        for index in chosen:
            view = views[index]
            if view.depth is not None:
                memory.insert(view.rgb, view.depth, view.camera, view.camera_to_world,
                              view_id=index)
        renders = [memory.render(view.camera, view.camera_to_world) for view in views]
        return Sample(captures=np.stack([views[i].rgb for i in chosen]),
                      frames=np.stack([view.rgb for view in views]),
                      renders=np.stack([render.rgb for render in renders]),
                      masks=np.stack([render.mask for render in renders]))


@dataclass
class EncodedSample:
    """A sample in latent space: the sequence the transformer sees."""

    clean: torch.Tensor       # (1, C, K + T, h, w) latents of captures then frames
    condition: torch.Tensor   # (1, C, K + T, h, w): captures, then the renders
    mask: torch.Tensor        # (1, 4, K + T, h, w): ones for captures, render visibility


def encode_sample(vae, sample: Sample) -> EncodedSample:
    """Encode a sample with the frozen frame-wise VAE."""
    with torch.no_grad():
        captures = encode_frames(vae, to_unit_range(sample.captures), 4)
        frames = encode_frames(vae, to_unit_range(sample.frames), 4)
        renders = encode_frames(vae, to_unit_range(sample.renders), 4)
    masks = mask_to_latent(torch.from_numpy(sample.masks).float())
    ones = torch.ones((len(captures),) + masks.shape[1:])

    def sequence(*parts):
        return torch.cat(parts).permute(1, 0, 2, 3)[None]
    return EncodedSample(clean=sequence(captures, frames), condition=sequence(captures, renders),
                         mask=sequence(ones, masks))
