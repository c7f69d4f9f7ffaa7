# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Keyframe selection from a camera stream: keep a frame only where it adds a new view.

A frame becomes a keyframe when no keyframe so far was taken from nearly the
same pose (every keyframe is at least ``min_translation`` metres or
``min_rotation_deg`` degrees away), and when at most ``max_overlap`` of what
it sees is already seen by one keyframe at a similar scale. Overlap is
measured on a grid of the frame's pixels placed at their depth (or at a
nominal depth) and projected into each keyframe; a point seen from much
closer or farther away does not count as seen, so walking towards a wall
still yields keyframes, and neither does a point seen along a ray more than
``MAX_PARALLAX_DEG`` away from the frame's (a view from another side of an
object, as a turntable or a photographer circling it gives: turning on the
spot changes no ray). Occlusion is ignored: this is a cheap test run on
every frame.
"""

import math

import numpy as np

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.transforms import transform_points
from anyrecon_ros.core.transforms import validate_rigid

# A point seen from more than this factor closer or farther counts as unseen:
# the keyframe holds it at a very different resolution.
MAX_SCALE_CHANGE = 1.5
# A point seen along rays this many degrees apart counts as unseen: the
# keyframe saw another side of it (and stereo has a wide enough angle).
MAX_PARALLAX_DEG = 15.0
GRID_COLUMNS, GRID_ROWS = 8, 6


class KeyframeSelector:
    """Decide which frames become keyframes, and remember the keyframes' poses."""

    def __init__(self, min_translation: float = 0.1, min_rotation_deg: float = 10.0,
                 max_overlap: float = 0.9, scene_depth: float = 2.0):
        """Set the thresholds; ``scene_depth`` (metres) stands in for unknown depth."""
        if not (min_translation >= 0.0 and min_rotation_deg >= 0.0):
            raise ValueError('min_translation and min_rotation_deg must be >= 0')
        if not 0.0 <= max_overlap <= 1.0:
            raise ValueError(f'max_overlap must be in [0, 1], got {max_overlap}')
        if not scene_depth > 0.0:
            raise ValueError(f'scene_depth must be positive, got {scene_depth}')
        self.min_translation = float(min_translation)
        self.min_rotation = math.radians(min_rotation_deg)
        self.max_overlap = float(max_overlap)
        self.scene_depth = float(scene_depth)
        self.clear()

    def __len__(self):
        return len(self._positions)

    def clear(self) -> None:
        """Forget every keyframe."""
        self._positions = np.empty((0, 3))
        self._rotations = np.empty((0, 3, 3))
        self._world_to_camera = np.empty((0, 4, 4))
        self._cameras = []

    def consider(self, camera_to_world, camera: PinholeCamera, depth=None) -> bool:
        """Return whether a frame becomes a keyframe; record it when it does.

        ``depth`` (H, W) metres, NaN where unknown, sharpens the overlap test.
        """
        pose = validate_rigid(camera_to_world)
        accepted = (not len(self) or (self._is_new_pose(pose)
                                      and self.overlap(pose, camera, depth) <= self.max_overlap))
        if accepted:
            self.add(pose, camera)
        return accepted

    def add(self, camera_to_world, camera: PinholeCamera) -> None:
        """Record a keyframe chosen elsewhere (given as a keyframe, loaded from a map)."""
        pose = validate_rigid(camera_to_world)
        self._positions = np.vstack([self._positions, pose[None, :3, 3]])
        self._rotations = np.concatenate([self._rotations, pose[None, :3, :3]])
        self._world_to_camera = np.concatenate([self._world_to_camera,
                                                np.linalg.inv(pose)[None]])
        self._cameras.append(camera)

    def overlap(self, camera_to_world, camera: PinholeCamera, depth=None) -> float:
        """Return the largest share of the frame's grid points one keyframe sees (0 if none)."""
        if not len(self):
            return 0.0
        pose = validate_rigid(camera_to_world)
        points, distances = self._grid_points(pose, camera, depth)
        seen = [self._seen_share(index, points, distances, pose[:3, 3])
                for index in range(len(self))]
        return float(max(seen))

    def _is_new_pose(self, pose) -> bool:
        """Return whether every keyframe is far enough away in position or in rotation."""
        translation = np.linalg.norm(self._positions - pose[:3, 3], axis=1)
        # The angle of R_k^T R from its trace, for every keyframe k at once.
        cosine = (np.einsum('kij,ij->k', self._rotations, pose[:3, :3]) - 1.0) / 2.0
        rotation = np.arccos(np.clip(cosine, -1.0, 1.0))
        near = (translation < self.min_translation) & (rotation < self.min_rotation)
        return not near.any()

    def _grid_points(self, pose, camera, depth):
        """Return world points of a pixel grid at their depth, and their distance to the camera."""
        u = ((np.arange(GRID_COLUMNS) + 0.5) * camera.width / GRID_COLUMNS).astype(int)
        v = ((np.arange(GRID_ROWS) + 0.5) * camera.height / GRID_ROWS).astype(int)
        u, v = np.meshgrid(u, v)
        z = np.full(u.shape, self.scene_depth)
        if depth is not None:
            sampled = np.asarray(depth, np.float64)[v, u]
            valid = np.isfinite(sampled) & (sampled > 0)
            z = np.where(valid, sampled, np.median(sampled[valid]) if valid.any() else z)
        rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                         np.ones(u.shape)], axis=-1).reshape(-1, 3)
        in_camera = rays * z.reshape(-1, 1)
        return transform_points(pose, in_camera), np.linalg.norm(in_camera, axis=1)

    def _seen_share(self, index, points, distances, frame_centre) -> float:
        camera = self._cameras[index]
        in_keyframe = transform_points(self._world_to_camera[index], points)
        z = in_keyframe[:, 2]
        ahead = z > 1e-6
        safe_z = np.where(ahead, z, 1.0)
        u = camera.fx * in_keyframe[:, 0] / safe_z + camera.cx
        v = camera.fy * in_keyframe[:, 1] / safe_z + camera.cy
        inside = ahead & (u >= -0.5) & (u < camera.width - 0.5) & (v >= -0.5) & (
            v < camera.height - 0.5)
        scale = np.linalg.norm(in_keyframe, axis=1) / distances
        similar = (scale <= MAX_SCALE_CHANGE) & (scale >= 1.0 / MAX_SCALE_CHANGE)
        similar &= self._parallax_cosine(index, points, frame_centre) >= math.cos(
            math.radians(MAX_PARALLAX_DEG))
        return float(np.mean(inside & similar))

    def _parallax_cosine(self, index, points, frame_centre):
        """Return the cosine of the angle between the keyframe's and the frame's rays to points."""
        to_keyframe = self._positions[index] - points
        to_frame = frame_centre - points
        lengths = np.linalg.norm(to_keyframe, axis=1) * np.linalg.norm(to_frame, axis=1)
        return np.einsum('ij,ij->i', to_keyframe, to_frame) / np.maximum(lengths, 1e-12)
