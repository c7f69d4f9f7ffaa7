# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Procedural walks written as posed-scene folders, for training where Open3D is missing.

The procedural scenes are ray-cast with Open3D, whose wheel (about 100 MB)
is larger than what travels to a borrowed GPU machine. There, training reads
walks exported here instead (``anyrecon train --procedural-walks DIR``,
``DataConfig.walk_folders``): one folder per training seed (1000 and up,
never the evaluation seeds), the frames of one random walk
(:func:`~anyrecon_ros.model.training.data.random_walk`) as lossless PNG
colour and 16-bit depth in millimetres, ``scene.json`` in the posed-scene
folder format plus ``procedural_seed``. Clips, conditioning views and memory
renders are then drawn from these frames as from any posed-scene folder.

``python -m anyrecon_ros.model.training.walks OUT --walks 60`` writes
``OUT/seed_001000`` ... ``OUT/seed_001059``.
"""

import argparse
import json
from pathlib import Path
import sys

import cv2
import numpy as np

from anyrecon_ros.model.training.data import DataConfig
from anyrecon_ros.model.training.data import EVALUATION_SEEDS
from anyrecon_ros.model.training.data import random_walk
from anyrecon_ros.model.training.data import WALK_SEED_KEY

DEPTH_SCALE = 1000.0   # depth PNG units per metre (millimetres)


def export_walk(out, seed: int, frames: int = 24, config: DataConfig = DataConfig()) -> Path:
    """Write the walk of procedural scene ``seed`` as a posed-scene folder ``out``; return it."""
    from anyrecon_ros.core.procedural_scene import default_camera
    from anyrecon_ros.core.procedural_scene import ProceduralScene
    if seed in EVALUATION_SEEDS:
        raise ValueError(f'seed {seed} is an evaluation seed; walks are exported for training')
    out = Path(out)
    (out / 'images').mkdir(parents=True, exist_ok=True)
    (out / 'depth').mkdir(exist_ok=True)
    camera = default_camera().scaled(config.width, config.height)
    scene = ProceduralScene(seed=seed)
    poses = random_walk(np.random.default_rng(seed), frames, config)
    entries = []
    for index, pose in enumerate(poses):
        view = scene.capture_view(camera, pose, index)
        image, depth = f'images/{index:04d}.png', f'depth/{index:04d}.png'
        cv2.imwrite(str(out / image), cv2.cvtColor(view.rgb, cv2.COLOR_RGB2BGR))
        metres = np.nan_to_num(np.asarray(view.depth, np.float64), nan=0.0, posinf=0.0)
        units = np.where(metres > 0, np.round(metres * DEPTH_SCALE), 0)
        cv2.imwrite(str(out / depth), np.clip(units, 0, 65534).astype(np.uint16))
        entries.append({'image': image, 'depth': depth, 'c2w': np.asarray(pose).tolist()})
    description = {
        'width': camera.width, 'height': camera.height, 'fx': camera.fx, 'fy': camera.fy,
        'cx': camera.cx, 'cy': camera.cy, 'distortion': None, 'depth_scale': DEPTH_SCALE,
        'pose_convention': 'camera-to-world, OpenCV camera axes (x right, y down, z forward)',
        'source': f'anyrecon_ros procedural scene {seed}, one random walk of {frames} frames',
        WALK_SEED_KEY: seed, 'frames': entries}
    (out / 'scene.json').write_text(json.dumps(description, indent=1))
    return out


def export_walks(out, walks: int, first_seed: int = 1000, frames: int = 24,
                 config: DataConfig = DataConfig(), log=print) -> list:
    """Write ``walks`` walks (seeds ``first_seed`` on) into ``out/seed_NNNNNN``; return them."""
    folders = []
    for seed in range(first_seed, first_seed + walks):
        folder = Path(out) / f'seed_{seed:06d}'
        if not (folder / 'scene.json').is_file():   # a rerun finishes an interrupted export
            export_walk(folder, seed, frames, config)
        folders.append(folder)
        log(f'walk {seed}: {folder}')
    return folders


def walk_folders(parent) -> tuple:
    """Return the exported walk folders under ``parent`` (sub-folders with a scene.json)."""
    folders = tuple(sorted(path.parent for path in Path(parent).glob('*/scene.json')))
    if not folders:
        raise ValueError(f'{parent} holds no exported walks (folders with a scene.json)')
    return folders


def main(argv=None) -> int:
    """Export walks from the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description='export procedural walks as posed folders')
    parser.add_argument('out')
    parser.add_argument('--walks', type=int, default=60)
    parser.add_argument('--first-seed', type=int, default=1000)
    parser.add_argument('--frames', type=int, default=24, help='frames per walk')
    parser.add_argument('--width', type=int, default=DataConfig.width)
    args = parser.parse_args(argv)
    height = round(args.width * 3 / 4 / 16) * 16
    export_walks(args.out, args.walks, args.first_seed, args.frames,
                 DataConfig(width=args.width, height=height))
    return 0


if __name__ == '__main__':
    sys.exit(main())
