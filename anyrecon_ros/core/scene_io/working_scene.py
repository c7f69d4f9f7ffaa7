# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A scene's frames at a working resolution: a posed-scene folder or ``synthetic:SEED``.

Evaluation and training read scenes through this, so every frame (and its
camera) is resized once, before anything else: colour by area averaging,
depth by nearest sample (so no depth is invented across edges).
"""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

SYNTHETIC_PREFIX = 'synthetic:'
SYNTHETIC_FRAMES = 100


class WorkingScene:
    """Frames of a scene at the working resolution: ``view(i)`` and ``poses``."""

    def __init__(self, spec: str, width: int, frames: int = SYNTHETIC_FRAMES):
        self.spec = spec
        if spec.startswith(SYNTHETIC_PREFIX):
            from anyrecon_ros.core.procedural_scene import default_camera
            from anyrecon_ros.core.procedural_scene import ProceduralScene
            seed = spec[len(SYNTHETIC_PREFIX):]
            if not seed.isdigit():
                raise ValueError(f'scene {spec!r}: use synthetic:SEED (e.g. synthetic:0)')
            self.procedural = ProceduralScene(seed=int(seed))
            self.scene = None
            camera = default_camera()
            self.poses = np.asarray(self.procedural.camera_path(frames))
        else:
            from anyrecon_ros.core.scene_io import open_scene
            self.procedural = None
            self.scene = open_scene(Path(spec))
            camera = self.scene.camera
            self.poses = self.scene.poses
        self.camera = working_camera(camera, width)

    def __len__(self):
        return len(self.poses)

    def view(self, index: int):
        """Return frame ``index`` as a CaptureView at the working resolution."""
        if self.procedural is not None:
            return self.procedural.capture_view(self.camera, self.poses[index], index)
        view = self.scene.view(index)
        size = (self.camera.width, self.camera.height)
        rgb = cv2.resize(view.rgb, size, interpolation=cv2.INTER_AREA)
        # Depth is not averaged across edges: the nearest sample keeps real depths.
        depth = None if view.depth is None else cv2.resize(view.depth, size,
                                                           interpolation=cv2.INTER_NEAREST)
        return replace(view, view_id=index, rgb=rgb, depth=depth, camera=self.camera)


def working_camera(camera, width: int):
    """Return ``camera`` scaled down to ``width`` (never up), height on a 16-pixel grid."""
    if camera.width <= width:
        return camera
    height = max(16, round(camera.height * width / camera.width / 16) * 16)
    return camera.scaled(width, height)
