# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The embedded default scene renders consistent RGB-D along its camera path."""

import numpy as np
import open3d as o3d
import pytest

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.transforms import validate_rigid


@pytest.fixture(scope='module')
def scene():
    return ProceduralScene(seed=0)


def back_project(camera, camera_to_world, depth):
    """Return the world points of every pixel with finite depth."""
    v, u = np.nonzero(np.isfinite(depth))
    z = depth[v, u]
    points_cam = np.stack([(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z], 1)
    return points_cam @ camera_to_world[:3, :3].T + camera_to_world[:3, 3]


def test_render_shapes_and_ranges(scene):
    camera = default_camera()
    rgb, depth = scene.render(camera, scene.camera_path(4)[0])
    assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    # Inside a closed room every ray hits something, at a plausible range.
    assert np.all(np.isfinite(depth))
    assert 0.1 < depth.min() and depth.max() < 12.0
    # Textured, not flat: many distinct colours.
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50


def test_depth_lies_on_the_ground_truth_mesh(scene):
    camera = default_camera()
    pose = scene.camera_path(6)[2]
    _, depth = scene.render(camera, pose)
    points = back_project(camera, pose, depth)[::97]
    raycaster = o3d.t.geometry.RaycastingScene()
    raycaster.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(scene.mesh()))
    distances = raycaster.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()
    assert np.max(distances) < 1e-3


def test_two_views_agree_where_they_overlap(scene):
    """A point seen in view A projects into view B at the depth B measures."""
    camera = default_camera()
    pose_a, pose_b = scene.camera_path(24)[:2]
    _, depth_a = scene.render(camera, pose_a)
    _, depth_b = scene.render(camera, pose_b)
    points = back_project(camera, pose_a, depth_a)
    world_to_b = np.linalg.inv(pose_b)
    in_b = points @ world_to_b[:3, :3].T + world_to_b[:3, 3]
    u = np.round(camera.fx * in_b[:, 0] / in_b[:, 2] + camera.cx).astype(int)
    v = np.round(camera.fy * in_b[:, 1] / in_b[:, 2] + camera.cy).astype(int)
    inside = (in_b[:, 2] > 0) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    assert inside.mean() > 0.5
    error = np.abs(depth_b[v[inside], u[inside]] - in_b[inside, 2])
    # Pixel rounding and occlusion edges aside, depths agree to a centimetre.
    assert np.median(error) < 0.01


def test_seed_makes_the_scene(scene):
    camera = default_camera()
    pose = scene.camera_path(4)[1]
    same = ProceduralScene(seed=0).render(camera, pose)[0]
    other = ProceduralScene(seed=1).render(camera, pose)[0]
    assert np.array_equal(scene.render(camera, pose)[0], same)
    assert not np.array_equal(same, other)


def test_camera_path_is_rigid_and_inside_the_scene(scene):
    lo, hi = scene.bounds
    poses = scene.camera_path(16)
    assert len(poses) == 16
    for pose in poses:
        validate_rigid(pose)
        assert np.all(pose[:3, 3] > lo) and np.all(pose[:3, 3] < hi)
