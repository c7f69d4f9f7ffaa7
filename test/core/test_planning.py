# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Trajectory planning: interpolation, extrapolation, coverage plans and segments."""

import math

import numpy as np
import open3d as o3d
import pytest
from scipy.spatial.transform import Rotation

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.planning import cut_segments
from anyrecon_ros.core.planning import densify_path
from anyrecon_ros.core.planning import extrapolate_trajectory
from anyrecon_ros.core.planning import interpolate_trajectory
from anyrecon_ros.core.planning import plan_coverage
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.core.transforms import make_transform

CAPTURED_FRAMES = (0, 3, 6, 9)   # of a 12-frame loop: parts of the room stay unseen
LOOP_FRAMES = 12
CONFIG = CoverageConfig()
# Candidates are scored on a memory decimated to CONFIG.scoring_voxel, whose
# larger splats reach a little farther than the full memory's.
DECIMATION_TOLERANCE = 0.05


def steps(poses):
    """Return the translation (metres) and rotation (radians) between consecutive poses."""
    poses = np.asarray(poses)
    translation = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    relative = np.einsum('nji,njk->nik', poses[:-1, :3, :3], poses[1:, :3, :3])
    return translation, Rotation.from_matrix(relative).magnitude()


def constant_velocity_poses(count, velocity, turn_per_frame):
    """Return poses moving on a straight line at constant speed, turning at a constant rate."""
    start = look_at([1.0, 2.0, 1.4], [3.0, 2.5, 1.2])
    turn = Rotation.from_rotvec(np.outer(np.arange(count), turn_per_frame)).as_matrix()
    return np.array([make_transform(start[:3, :3] @ r, start[:3, 3] + k * np.asarray(velocity))
                     for k, r in enumerate(turn)])


# ---- interpolation ---------------------------------------------------------------------------


def test_interpolation_keeps_keyframes_exactly_and_bounds_steps():
    keyframes = ProceduralScene(0).camera_path(5)
    frames_between = 6
    path = interpolate_trajectory(keyframes, frames_between)
    assert path.shape == (5 + 4 * frames_between, 4, 4)
    for index, keyframe in enumerate(keyframes):
        np.testing.assert_array_equal(path[index * (frames_between + 1)], keyframe)
    translation, rotation = steps(path)
    gap_translation, gap_rotation = steps(keyframes)
    # Constant speed within a gap: every step is the gap divided evenly.
    np.testing.assert_allclose(translation, np.repeat(gap_translation / 7, 7), atol=1e-9)
    np.testing.assert_allclose(rotation, np.repeat(gap_rotation / 7, 7), atol=1e-9)


def test_interpolation_takes_a_count_per_gap():
    keyframes = constant_velocity_poses(3, [0.5, 0.0, 0.0], [0.0, 0.2, 0.0])
    path = interpolate_trajectory(keyframes, [0, 3])
    assert len(path) == 3 + 3
    np.testing.assert_array_equal(path[[0, 1, 5]], keyframes)
    np.testing.assert_allclose(steps(path)[0], [0.5, 0.125, 0.125, 0.125, 0.125])


def test_densify_path_respects_both_limits_and_lands_on_waypoints():
    waypoints = ProceduralScene(0).camera_path(6)
    poses, indices = densify_path(waypoints, 0.04, math.radians(2.0))
    np.testing.assert_array_equal(poses[indices], waypoints)
    translation, rotation = steps(poses)
    assert translation.max() <= 0.04 + 1e-9
    assert rotation.max() <= math.radians(2.0) + 1e-9


# ---- extrapolation ---------------------------------------------------------------------------


@pytest.mark.parametrize('turn_per_frame', [[0.0, 0.0, 0.0], [0.0, 0.05, 0.01]])
def test_extrapolation_continues_constant_velocity_exactly(turn_per_frame):
    truth = constant_velocity_poses(12, [0.1, 0.05, 0.0], turn_per_frame)
    after = extrapolate_trajectory(truth[:6], 6)
    np.testing.assert_allclose(after, truth[6:], atol=1e-9)
    before = extrapolate_trajectory(truth[4:], 4, before=True)
    np.testing.assert_allclose(before, truth[:4], atol=1e-9)


def test_extrapolation_step_keeps_the_turn_per_metre():
    keyframes = constant_velocity_poses(4, [0.2, 0.0, 0.0], [0.0, 0.1, 0.0])
    half_steps = extrapolate_trajectory(keyframes, 4, step=0.1)
    truth = extrapolate_trajectory(keyframes, 2)
    np.testing.assert_allclose(half_steps[1::2], truth, atol=1e-9)


def test_a_camera_turning_in_place_keeps_turning_in_place():
    keyframes = constant_velocity_poses(3, [0.0, 0.0, 0.0], [0.0, 0.1, 0.0])
    after = extrapolate_trajectory(keyframes, 3)
    np.testing.assert_allclose(after[:, :3, 3], np.repeat(keyframes[:1, :3, 3], 3, axis=0))
    np.testing.assert_allclose(steps(np.concatenate([keyframes, after]))[1], 0.1, atol=1e-9)


def test_extrapolation_needs_two_keyframes():
    with pytest.raises(ValueError):
        extrapolate_trajectory(np.eye(4)[None], 3)


# ---- segments --------------------------------------------------------------------------------


@pytest.mark.parametrize('count', [1, 7, 39, 40, 41, 47, 48, 79, 80, 200, 233])
@pytest.mark.parametrize('overlap', [0, 1, 5])
def test_segments_cover_the_path_once_with_the_declared_overlap(count, overlap):
    length, min_length = 40, 8
    segments = cut_segments(np.zeros((count, 4, 4)), length, overlap, min_length)
    assert segments[0][0] == 0 and segments[-1][1] == count
    for (_, end), (start, _) in zip(segments[:-1], segments[1:]):
        assert start == end - overlap
    lengths = [end - start for start, end in segments]
    assert all(size == length for size in lengths[:-1])
    if len(segments) > 1:
        assert min_length <= lengths[-1] <= length + min_length - overlap - 1
    else:
        assert lengths == [count]
    assert cut_segments([], length, overlap) == []


def test_segments_reject_an_overlap_as_long_as_a_segment():
    with pytest.raises(ValueError):
        cut_segments(np.zeros((50, 4, 4)), 10, 10)


# ---- coverage planning -----------------------------------------------------------------------


@pytest.fixture(scope='module')
def captured():
    """Return the scene, camera, a memory of a few loop frames, their poses and a plan."""
    scene = ProceduralScene(0)
    camera = default_camera()
    loop = scene.camera_path(LOOP_FRAMES)
    keyframes = np.array([loop[i] for i in CAPTURED_FRAMES])
    memory = GeometryMemory()
    for view_id, pose in enumerate(keyframes):
        memory.insert(*scene.render(camera, pose), camera, pose, view_id=view_id)
    plan = plan_coverage(memory, camera, keyframes[-1], n_views=5, config=CONFIG, seed=3)
    return scene, camera, memory, keyframes, plan


def seen_fraction(memory, camera, pose):
    """Return the share of the scoring-size view the full memory covers."""
    return memory.render(camera.scaled(160, 120), pose).mask.mean()


def test_coverage_views_keep_overlap_and_look_at_the_unseen(captured):
    _, camera, memory, keyframes, plan = captured
    views = plan.poses[plan.viewpoint_indices]
    assert 2 <= len(views) <= 5
    assert np.all(plan.unseen_fraction[plan.viewpoint_indices] <= 1 - CONFIG.min_overlap)
    view_seen = np.array([seen_fraction(memory, camera, pose) for pose in views])
    keyframe_seen = np.array([seen_fraction(memory, camera, pose) for pose in keyframes])
    assert np.all(view_seen >= CONFIG.min_overlap - DECIMATION_TOLERANCE)
    # Keyframes see what they put in the memory; the planned views look past it.
    assert (1 - view_seen).mean() > (1 - keyframe_seen).mean() + 0.3


def test_coverage_path_stays_in_free_space(captured):
    scene, _, _, _, plan = captured
    positions = plan.poses[:, :3, 3]
    lo, hi = scene.bounds
    assert np.all((positions > lo) & (positions < hi))
    raycaster = o3d.t.geometry.RaycastingScene()
    raycaster.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(scene.mesh()))
    distance = raycaster.compute_distance(
        o3d.core.Tensor(positions.astype(np.float32))).numpy()
    assert distance.min() > CONFIG.clearance / 2
    assert distance[plan.viewpoint_indices].min() > CONFIG.clearance - 0.05


def test_coverage_path_starts_at_the_start_pose_in_bounded_steps(captured):
    _, _, _, keyframes, plan = captured
    np.testing.assert_array_equal(plan.poses[0], keyframes[-1])
    translation, rotation = steps(plan.poses)
    assert translation.max() <= CONFIG.max_translation_step + 1e-9
    assert rotation.max() <= CONFIG.max_rotation_step + 1e-9
    assert len(plan.unseen_fraction) == len(plan.poses)


def test_coverage_plan_segments_cover_the_path(captured):
    _, _, _, _, plan = captured
    assert plan.segments == cut_segments(plan.poses, CONFIG.segment_length,
                                         CONFIG.segment_overlap)
    assert plan.segments[0][0] == 0 and plan.segments[-1][1] == len(plan.poses)


def test_coverage_plan_is_deterministic_for_a_seed(captured):
    _, camera, memory, keyframes, plan = captured
    again = plan_coverage(memory, camera, keyframes[-1], n_views=5, config=CONFIG, seed=3)
    np.testing.assert_array_equal(again.poses, plan.poses)
    np.testing.assert_array_equal(again.viewpoint_indices, plan.viewpoint_indices)


def test_coverage_honours_the_callers_free_space(captured):
    _, camera, memory, keyframes, _ = captured
    x_limit = 3.0
    plan = plan_coverage(memory, camera, keyframes[-1], n_views=3,
                         config=CoverageConfig(n_candidates=60), seed=1,
                         free_space=lambda positions: positions[:, 0] < x_limit)
    assert len(plan.viewpoint_indices)
    assert np.all(plan.poses[plan.viewpoint_indices, 0, 3] < x_limit)


def test_coverage_from_a_single_view_plans_between_the_camera_and_its_wall():
    scene, camera = ProceduralScene(0), default_camera()
    start = scene.camera_path(4)[0]
    memory = GeometryMemory()
    memory.insert(*scene.render(camera, start), camera, start, view_id=0)
    plan = plan_coverage(memory, camera, start, n_views=2,
                         config=CoverageConfig(n_candidates=60), seed=0)
    assert len(plan.viewpoint_indices) == 2
    assert np.all(plan.unseen_fraction[plan.viewpoint_indices] > 0.3)


def test_coverage_needs_a_memory_and_a_sane_config():
    camera = default_camera()
    with pytest.raises(ValueError):
        plan_coverage(GeometryMemory(), camera, np.eye(4), 3)
    with pytest.raises(ValueError):
        CoverageConfig(min_overlap=1.0)
    with pytest.raises(ValueError):
        CoverageConfig(clearance=0.0)
