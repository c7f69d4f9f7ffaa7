# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""KeyframeSelector: a frame becomes a keyframe only where it adds a new view."""

import numpy as np
import pytest

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.keyframe_selection import KeyframeSelector
from anyrecon_ros.core.transforms import look_at

CAMERA = PinholeCamera(width=160, height=120, fx=125.0, fy=125.0, cx=79.5, cy=59.5)


def looking_along_y(x=0.0, y=0.0, yaw_deg=0.0):
    """Return a camera at (x, y, 1) looking along +y, turned by ``yaw_deg`` about z."""
    yaw = np.radians(yaw_deg)
    eye = np.array([x, y, 1.0])
    return look_at(eye, eye + [-np.sin(yaw), np.cos(yaw), 0.0])


def test_the_first_frame_is_a_keyframe_and_the_same_pose_is_not():
    selector = KeyframeSelector()
    assert selector.consider(looking_along_y(), CAMERA)
    assert not selector.consider(looking_along_y(), CAMERA)
    assert len(selector) == 1


def test_translation_or_rotation_beyond_the_thresholds_makes_a_keyframe():
    selector = KeyframeSelector(min_translation=0.2, min_rotation_deg=15.0, max_overlap=1.0)
    assert selector.consider(looking_along_y(), CAMERA)
    assert not selector.consider(looking_along_y(x=0.15), CAMERA)
    assert not selector.consider(looking_along_y(yaw_deg=10.0), CAMERA)
    assert selector.consider(looking_along_y(x=0.25), CAMERA)
    assert selector.consider(looking_along_y(yaw_deg=20.0), CAMERA)
    assert len(selector) == 3


def test_every_keyframe_counts_not_only_the_last():
    selector = KeyframeSelector(min_translation=0.2, min_rotation_deg=15.0, max_overlap=1.0)
    for x in (0.0, 0.5, 1.0):
        assert selector.consider(looking_along_y(x=x), CAMERA)
    # Back near the first keyframe: far from the last one, but not new.
    assert not selector.consider(looking_along_y(x=0.05), CAMERA)


def test_overlap_limits_keyframes_that_see_what_one_keyframe_saw():
    selector = KeyframeSelector(min_translation=0.05, min_rotation_deg=5.0, max_overlap=0.6)
    wall = np.full((CAMERA.height, CAMERA.width), 3.0, np.float32)
    assert selector.consider(looking_along_y(), CAMERA, wall)
    # Moved beyond min_translation, but sideways by 10 cm at 3 m: almost all seen.
    assert selector.overlap(looking_along_y(x=0.1), CAMERA, wall) > 0.9
    assert not selector.consider(looking_along_y(x=0.1), CAMERA, wall)
    # Turned right round: nothing of it was seen.
    behind = looking_along_y(yaw_deg=180.0)
    assert selector.overlap(behind, CAMERA, wall) == 0.0
    assert selector.consider(behind, CAMERA, wall)


def test_walking_towards_a_wall_still_gives_keyframes():
    # The nearer view is inside the first one, but at twice the resolution.
    selector = KeyframeSelector(min_translation=0.1, min_rotation_deg=10.0, max_overlap=0.5)
    far_wall = np.full((CAMERA.height, CAMERA.width), 3.0, np.float32)
    assert selector.consider(looking_along_y(), CAMERA, far_wall)
    assert not selector.consider(looking_along_y(y=0.3), CAMERA, far_wall - 0.3)
    assert selector.consider(looking_along_y(y=1.6), CAMERA, far_wall - 1.6)


def test_unknown_depth_uses_the_nominal_scene_depth():
    selector = KeyframeSelector(min_translation=0.0, min_rotation_deg=0.0, max_overlap=0.9,
                                scene_depth=2.0)
    selector.add(looking_along_y(), CAMERA)
    no_depth = np.full((CAMERA.height, CAMERA.width), np.nan, np.float32)
    shifted = looking_along_y(x=0.5)
    assert selector.overlap(shifted, CAMERA, no_depth) == selector.overlap(shifted, CAMERA)
    # A far wall makes the same sideways step overlap more.
    far = np.full_like(no_depth, 6.0)
    assert selector.overlap(shifted, CAMERA, far) > selector.overlap(shifted, CAMERA)


def test_add_records_without_testing_and_clear_forgets():
    selector = KeyframeSelector()
    selector.add(looking_along_y(), CAMERA)
    selector.add(looking_along_y(), CAMERA)
    assert len(selector) == 2
    assert not selector.consider(looking_along_y(), CAMERA)
    selector.clear()
    assert len(selector) == 0 and selector.overlap(looking_along_y(), CAMERA) == 0.0
    assert selector.consider(looking_along_y(), CAMERA)


@pytest.mark.parametrize('kwargs', [{'min_translation': -1.0}, {'min_rotation_deg': -1.0},
                                    {'max_overlap': 1.5}, {'scene_depth': 0.0}])
def test_bad_thresholds_are_refused(kwargs):
    with pytest.raises(ValueError):
        KeyframeSelector(**kwargs)


def test_a_pose_that_is_not_rigid_is_refused():
    selector = KeyframeSelector()
    with pytest.raises(ValueError):
        selector.consider(np.diag([1.0, 1.0, 2.0, 1.0]), CAMERA)
    assert len(selector) == 0
