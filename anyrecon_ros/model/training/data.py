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

Real scenes: posed-scene folders with depth (RGB-D) only. A folder without
depth cannot build a memory, so every render of its clips would be empty:
the generator would learn to ignore renders it always has at run time.
Such folders are refused, and so is any path naming ``redkitchen``, the
evaluation scene. Procedural walks can also be read from folders written by
:mod:`anyrecon_ros.model.training.walks` (``DataConfig.walk_folders``), for
machines without Open3D, which the procedural scenes ray-cast with.
"""

from dataclasses import dataclass
import json
import math
from pathlib import Path

import numpy as np
import torch

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.scene_io.working_scene import WorkingScene
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import mask_to_latent
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.pipelines.pipeline import check_condition_fill
from anyrecon_ros.model.pipelines.pipeline import fill_condition_renders

# Procedural seeds the evaluation and the tests use; training never draws them.
EVALUATION_SEEDS = range(0, 100)
TRAINING_SEEDS = range(1000, 100000)
# Evaluation scenes: a training path naming one is refused.
EVALUATION_SCENES = ('redkitchen',)
# Written into the scene.json of exported procedural walks (``walks.py``).
WALK_SEED_KEY = 'procedural_seed'


def check_training_path(path) -> Path:
    """Return ``path`` as a Path; raise ValueError if it (or its target) names evaluation data."""
    path = Path(path)
    for text in (str(path), str(path.resolve())):
        for name in EVALUATION_SCENES:
            if name in text.lower():
                raise ValueError(f'{path}: {name} is evaluation data (anyrecon eval); '
                                 'training never reads it')
    return path


@dataclass
class Sample:
    """One training sequence: K capture views, then T frames with renders and masks."""

    captures: np.ndarray    # (K, H, W, 3) uint8
    frames: np.ndarray      # (T, H, W, 3) uint8, the truth
    renders: np.ndarray     # (T, H, W, 3) uint8, the memory rendered into each frame
    masks: np.ndarray       # (T, H, W) bool, True where the memory was visible
    # The frames the captures are (captures[i] is frames[capture_indices[i]]).
    capture_indices: tuple = None
    # What the renders' condition latents are encoded from (the renders when None):
    # the renders filled as ``DataConfig.condition_fill`` says, as the pipeline does.
    condition_renders: np.ndarray = None


@dataclass
class DataConfig:
    """How training samples are made."""

    width: int = 128
    height: int = 96
    clip_frames: int = 8
    step: float = 0.25            # metres between consecutive frames of a walk
    turn: float = math.radians(12.0)  # radians of turn between consecutive frames
    voxel_size: float = 0.03
    scene_folders: tuple = ()     # posed-scene folders (RGB-D) drawn beside procedural scenes
    procedural_share: float = 1.0  # share of samples from procedural scenes if folders exist
    # Exported procedural walks (walks.py), drawn instead of ray-cast procedural scenes.
    walk_folders: tuple = ()
    # 'telea': the renders' condition images are Telea-filled (AnyReconPipeline.condition_fill).
    condition_fill: str = 'none'


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
    from anyrecon_ros.core.procedural_scene import ROOM_SIZE
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
        check_condition_fill(config.condition_fill)
        self.config = config
        self.seeds = list(seeds)
        self._camera = None
        self._scenes = {}
        self._folders = [self._open_folder(path) for path in config.scene_folders]
        self._walks = [self._open_walk(path) for path in config.walk_folders]

    @property
    def camera(self):
        """Return the procedural scenes' camera at the configured size."""
        if self._camera is None:
            from anyrecon_ros.core.procedural_scene import default_camera
            self._camera = default_camera().scaled(self.config.width, self.config.height)
        return self._camera

    def _open_folder(self, path):
        scene = WorkingScene(str(check_training_path(path)), self.config.width)
        if scene.view(0).depth is None:
            raise ValueError(
                f'{path} has no depth: its clips would have empty renders (the memory is '
                'built from depth), which the generator never meets at run time; train on '
                'RGB-D posed-scene folders only')
        return scene

    def _open_walk(self, path):
        description = json.loads((check_training_path(path) / 'scene.json').read_text())
        seed = description.get(WALK_SEED_KEY)
        if not isinstance(seed, int) or seed in EVALUATION_SEEDS:
            raise ValueError(f'{path}: not an exported walk of a training seed '
                             f'({WALK_SEED_KEY} {seed!r}; walks.py writes them)')
        return self._open_folder(path)

    def sample(self, rng: np.random.Generator) -> Sample:
        """Make a sample; the same generator state gives the same sample."""
        frames = self.config.clip_frames
        if self._folders and rng.random() >= self.config.procedural_share:
            views = self._folder_clip(rng, frames, self._folders)
        elif self._walks:
            views = self._folder_clip(rng, frames, self._walks)
        else:
            scene = self._scene(int(rng.choice(self.seeds)))
            views = [scene.capture_view(self.camera, pose, index)
                     for index, pose in enumerate(random_walk(rng, frames, self.config))]
        return self._condition(views, conditioning_indices(rng, frames))

    def _scene(self, seed):
        from anyrecon_ros.core.procedural_scene import ProceduralScene
        if seed not in self._scenes:
            if len(self._scenes) > 16:  # a few scenes at a time: each holds a ray caster
                self._scenes.pop(next(iter(self._scenes)))
            self._scenes[seed] = ProceduralScene(seed=seed)
        return self._scenes[seed]

    @staticmethod
    def _folder_clip(rng, frames, folders):
        folder = folders[int(rng.integers(len(folders)))]
        # Strides of 1-3 views, but no longer than the folder holds (no repeated views).
        stride = int(rng.integers(1, max(1, min(3, (len(folder) - 1) // max(1, frames - 1))) + 1))
        start = int(rng.integers(0, max(1, len(folder) - stride * (frames - 1))))
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
        sample = Sample(captures=np.stack([views[i].rgb for i in chosen]),
                        frames=np.stack([view.rgb for view in views]),
                        renders=np.stack([render.rgb for render in renders]),
                        masks=np.stack([render.mask for render in renders]),
                        capture_indices=tuple(chosen))
        if self.config.condition_fill != 'none':
            sample.condition_renders = fill_condition_renders(
                sample.renders, sample.masks, self.config.condition_fill,
                np.stack([render.depth for render in renders]))
        return sample


@dataclass
class EncodedSample:
    """A sample in latent space: the sequence the transformer sees."""

    clean: torch.Tensor       # (1, C, K + T, h, w) latents of captures then frames
    condition: torch.Tensor   # (1, C, K + T, h, w): captures, then the renders
    mask: torch.Tensor        # (1, 4, K + T, h, w): ones for captures, render visibility


def encode_sample(vae, sample: Sample, batch_frames: int = 4, device=None) -> EncodedSample:
    """Encode a sample with the frozen frame-wise VAE (on ``device``: the VAE's when None)."""
    return encode_samples(vae, [sample], batch_frames, device)[0]


def encode_samples(vae, samples: list, batch_frames: int = 4, device=None) -> list:
    """Encode samples with the frozen frame-wise VAE, the images of each size in one pass.

    Captures that are frames of the clip (``capture_indices``) are not
    encoded twice; the renders' condition latents come from
    ``condition_renders`` where a sample has them.
    """
    device = device or next(vae.parameters()).device
    stacks = []
    for sample in samples:
        renders = sample.renders if sample.condition_renders is None else sample.condition_renders
        captures = sample.captures if sample.capture_indices is None else sample.captures[:0]
        stacks.append(np.concatenate([sample.frames, renders, captures]))
    latents = [None] * len(samples)
    for size in {stack.shape[1:3] for stack in stacks}:
        chosen = [i for i, stack in enumerate(stacks) if stack.shape[1:3] == size]
        with torch.no_grad():
            encoded = encode_frames(vae, to_unit_range(np.concatenate(
                [stacks[i] for i in chosen]), device), batch_frames)
        for i, part in zip(chosen, torch.split(encoded, [len(stacks[i]) for i in chosen])):
            latents[i] = part
    return [_sequence(sample, part, device) for sample, part in zip(samples, latents)]


def _sequence(sample: Sample, latents: torch.Tensor, device) -> EncodedSample:
    """Arrange a sample's latents (frames, renders, own captures) as the transformer's sequence."""
    frames = len(sample.frames)
    frame_latents, render_latents = latents[:frames], latents[frames:2 * frames]
    if sample.capture_indices is None:
        capture_latents = latents[2 * frames:]
    else:
        capture_latents = frame_latents[list(sample.capture_indices)]
    masks = mask_to_latent(torch.from_numpy(sample.masks).float().to(device))
    ones = torch.ones((len(capture_latents),) + masks.shape[1:], device=device)

    def sequence(*tensors):
        return torch.cat(tensors).permute(1, 0, 2, 3)[None]
    return EncodedSample(clean=sequence(capture_latents, frame_latents),
                         condition=sequence(capture_latents, render_latents),
                         mask=sequence(ones, masks))


def collate(encoded: list) -> list:
    """Stack encoded samples of the same shape into batched ``EncodedSample``s."""
    groups = {}
    for sample in encoded:
        groups.setdefault(tuple(sample.clean.shape), []).append(sample)
    return [EncodedSample(clean=torch.cat([s.clean for s in group]),
                          condition=torch.cat([s.condition for s in group]),
                          mask=torch.cat([s.mask for s in group]))
            for group in groups.values()]
