# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A scene's frames at a working resolution: a posed-scene folder or ``synthetic:SEED``.

Evaluation and training read scenes through this, so every frame (and its
camera) is resized once, before anything else: colour by area averaging,
depth by nearest sample (so no depth is invented across edges).

Two resolutions: ``view(i)`` is the working resolution (the generator's, at
which images are compared), ``mapping_view(i)`` the frame's own resolution up
to ``mapping_width``, at which multi-view stereo runs and the memory is built.
A scene without depth is in its own units: it is brought to nominal metres
on opening (``core.scene_io.units``), ``units`` says how, and ``depth_range``
gives multi-view stereo each view's depth interval.
"""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from anyrecon_ros.core.scene_io.units import DepthRanges
from anyrecon_ros.core.scene_io.units import METRIC_UNITS
from anyrecon_ros.core.scene_io.units import nominal_scene

SYNTHETIC_PREFIX = 'synthetic:'
SYNTHETIC_FRAMES = 100
# Frames are mapped (stereo, memory) at their own resolution up to this width.
MAPPING_WIDTH = 640


class WorkingScene:
    """Frames of a scene at the working resolution: ``view(i)`` and ``poses``."""

    def __init__(self, spec: str, width: int, frames: int = SYNTHETIC_FRAMES,
                 mapping_width: int = MAPPING_WIDTH):
        self.spec = spec
        self.units, self.depth_range = METRIC_UNITS, None
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
            self.scene, self.units = nominal_scene(open_scene(Path(spec)))
            if not self.units.metric:
                self.depth_range = DepthRanges(self.scene, self.units)
            camera = self.scene.camera
            self.poses = self.scene.poses
        self.camera = working_camera(camera, width)
        self.mapping_camera = camera.bounded(mapping_width)

    def __len__(self):
        return len(self.poses)

    def view(self, index: int):
        """Return frame ``index`` as a CaptureView at the working resolution."""
        return self._view(index, self.camera)

    def mapping_view(self, index: int):
        """Return frame ``index`` as a CaptureView at the mapping resolution."""
        return self._view(index, self.mapping_camera)

    def _view(self, index, camera):
        if self.procedural is not None:
            return self.procedural.capture_view(camera, self.poses[index], index)
        view = self.scene.view(index)
        if view.camera == camera:
            return view
        size = (camera.width, camera.height)
        rgb = cv2.resize(view.rgb, size, interpolation=cv2.INTER_AREA)
        # Depth is not averaged across edges: the nearest sample keeps real depths.
        depth = None if view.depth is None else cv2.resize(view.depth, size,
                                                           interpolation=cv2.INTER_NEAREST)
        return replace(view, view_id=index, rgb=rgb, depth=depth, camera=camera)


def working_camera(camera, width: int):
    """Return ``camera`` scaled down to ``width`` (never up), height on a 16-pixel grid."""
    if camera.width <= width:
        return camera
    height = max(16, round(camera.height * width / camera.width / 16) * 16)
    return camera.scaled(width, height)
