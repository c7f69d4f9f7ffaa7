# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Captured keyframes ("capture views") and the bank that holds them by id.

``ViewBank`` holds every keyframe in RAM (the offline command, the evaluation,
an exported map); the mapping session's ``core.bounded_bank.BoundedViewBank``
keeps only a RAM budget's worth and reads the rest back from its map store.
Both give the same interface: ``bank[view_id]`` (the whole keyframe),
``placements()`` (ids, cameras and poses only: what selection, stereo source
choice and markers need, without reading images back) and ``views()`` (every
keyframe, whole).
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.transforms import validate_rigid

# Keyframe ids are a Keyframe message's uint32 field.
MAX_VIEW_ID = 2 ** 32 - 1


@dataclass
class CaptureView:
    """One captured keyframe: RGB, optional metric depth, intrinsics, camera-to-world pose."""

    view_id: int
    rgb: np.ndarray                     # (H, W, 3) uint8
    camera: PinholeCamera
    camera_to_world: np.ndarray         # (4, 4), OpenCV optical axes
    depth: Optional[np.ndarray] = None  # (H, W) float32 metres, NaN where invalid
    stamp_ns: int = 0

    def __post_init__(self):
        if not 0 <= self.view_id <= MAX_VIEW_ID:
            raise ValueError(f'view id {self.view_id} is outside 0..{MAX_VIEW_ID} (uint32)')
        size = (self.camera.height, self.camera.width)
        if self.rgb.shape != size + (3,) or self.rgb.dtype != np.uint8:
            raise ValueError(f'view {self.view_id}: rgb must be uint8 {size + (3,)}, '
                             f'got {self.rgb.dtype} {self.rgb.shape}')
        if self.depth is not None and self.depth.shape != size:
            raise ValueError(f'view {self.view_id}: depth {self.depth.shape} does not match '
                             f'the camera size {size}')
        validate_rigid(self.camera_to_world)

    @property
    def centre(self) -> np.ndarray:
        """Return the camera centre in the world frame."""
        return self.camera_to_world[:3, 3]

    @property
    def image_bytes(self) -> int:
        """Return the bytes its image and depth take in RAM."""
        return self.rgb.nbytes + (0 if self.depth is None else self.depth.nbytes)


@dataclass(frozen=True)
class KeyframePlacement:
    """Where a keyframe was taken, without its images: id, intrinsics, pose and stamp."""

    view_id: int
    camera: PinholeCamera
    camera_to_world: np.ndarray         # (4, 4), OpenCV optical axes
    stamp_ns: int = 0

    @classmethod
    def of(cls, view: CaptureView) -> 'KeyframePlacement':
        """Return the placement of ``view``."""
        return cls(view.view_id, view.camera, view.camera_to_world, view.stamp_ns)

    @property
    def centre(self) -> np.ndarray:
        """Return the camera centre in the world frame."""
        return self.camera_to_world[:3, 3]


@dataclass
class GeneratedFrame:
    """One view the generator produced along a trajectory segment."""

    segment_id: int
    index: int
    rgb: np.ndarray                     # (H, W, 3) uint8
    mask: np.ndarray                    # (H, W) bool: memory visible in the conditioning render
    camera: PinholeCamera
    camera_to_world: np.ndarray         # (4, 4)
    reference_ids: tuple = ()           # captured keyframes used as references
    depth: Optional[np.ndarray] = None  # (H, W) float32 metres, NaN where unknown

    def __post_init__(self):
        size = (self.camera.height, self.camera.width)
        if self.rgb.shape != size + (3,) or self.rgb.dtype != np.uint8:
            raise ValueError(f'generated frame: rgb must be uint8 {size + (3,)}, '
                             f'got {self.rgb.dtype} {self.rgb.shape}')
        if self.mask.shape != size or (self.depth is not None and self.depth.shape != size):
            raise ValueError(f'generated frame: mask and depth must be {size}')
        validate_rigid(self.camera_to_world)


class ViewBank:
    """Capture views by id, in insertion order, every one in RAM."""

    def __init__(self):
        self._views = {}

    def add(self, view: CaptureView) -> CaptureView:
        """Add a view and return it as held; an id that is already there is refused."""
        if view.view_id in self._views:
            raise KeyError(f'a view with id {view.view_id} is already in the bank')
        self._views[view.view_id] = view
        return view

    def __len__(self):
        return len(self._views)

    def __contains__(self, view_id):
        return view_id in self._views

    def __getitem__(self, view_id) -> CaptureView:
        return self._views[view_id]

    def ids(self) -> list:
        """Return the view ids in insertion order."""
        return list(self._views)

    def placements(self) -> list:
        """Return id, camera, pose and stamp of every view in insertion order (here the views)."""
        return list(self._views.values())

    def views(self):
        """Return the views in insertion order."""
        return list(self._views.values())
