# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pose interpolation, nearly rigid poses, resized cameras and lens undistortion."""

import cv2
import numpy as np
import pytest
from transforms3d.axangles import axangle2mat

from anyrecon_ros.core.camera import _undistortion_maps, PinholeCamera, undistort
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.transforms import (interpolate_poses, look_at, make_transform,
                                          nearest_rigid, transform_points, validate_rigid)

LENS = PinholeCamera(width=320, height=240, fx=250.0, fy=260.0, cx=161.0, cy=118.5,
                     distortion=[-0.25, 0.08, 0.001, -0.0005])


def rotation_angle(rotation_a, rotation_b):
    """Return the angle in radians of the rotation taking ``rotation_a`` to ``rotation_b``."""
    cosine = (np.trace(rotation_a.T @ rotation_b) - 1.0) / 2.0
    return np.arccos(np.clip(cosine, -1.0, 1.0))


@pytest.fixture
def two_poses():
    return look_at([0.0, 0.0, 1.5], [2.0, 0.5, 1.0]), look_at([1.0, -1.0, 1.2], [0.0, 2.0, 1.4])


def test_interpolation_hits_both_endpoints(two_poses):
    pose_a, pose_b = two_poses
    poses = interpolate_poses(pose_a, pose_b, [0.0, 1.0])
    assert poses.shape == (2, 4, 4)
    np.testing.assert_allclose(poses[0], pose_a, atol=1e-12)
    np.testing.assert_allclose(poses[1], pose_b, atol=1e-9)


def test_interpolation_midpoint_is_half_the_rotation_and_the_translation(two_poses):
    pose_a, pose_b = two_poses
    middle = interpolate_poses(pose_a, pose_b, 0.5)[0]
    validate_rigid(middle, atol=1e-9)
    total = rotation_angle(pose_a[:3, :3], pose_b[:3, :3])
    assert rotation_angle(pose_a[:3, :3], middle[:3, :3]) == pytest.approx(total / 2)
    assert rotation_angle(middle[:3, :3], pose_b[:3, :3]) == pytest.approx(total / 2)
    np.testing.assert_allclose(middle[:3, 3], (pose_a[:3, 3] + pose_b[:3, 3]) / 2)


def test_interpolation_moves_monotonically_at_constant_speed(two_poses):
    pose_a, pose_b = two_poses
    fractions = np.linspace(0.0, 1.0, 11)
    poses = interpolate_poses(pose_a, pose_b, fractions)
    angles = [rotation_angle(pose_a[:3, :3], pose[:3, :3]) for pose in poses]
    distances = np.linalg.norm(poses[:, :3, 3] - pose_a[:3, 3], axis=1)
    assert np.all(np.diff(angles) > 0) and np.all(np.diff(distances) > 0)
    np.testing.assert_allclose(angles, fractions * angles[-1], atol=1e-9)
    np.testing.assert_allclose(distances, fractions * distances[-1], atol=1e-12)


def test_interpolation_takes_the_short_way_round():
    # 300 degrees one way is 60 degrees the other: the midpoint is 30 degrees back.
    pose_b = make_transform(axangle2mat([0.0, 0.0, 1.0], np.radians(300.0)), [0.0, 0.0, 0.0])
    middle = interpolate_poses(np.eye(4), pose_b, 0.5)[0]
    np.testing.assert_allclose(middle[:3, :3], axangle2mat([0.0, 0.0, 1.0], np.radians(-30.0)),
                               atol=1e-12)


def test_interpolation_between_equal_rotations_only_translates():
    pose_b = make_transform(np.eye(3), [1.0, 2.0, 3.0])
    poses = interpolate_poses(np.eye(4), pose_b, [0.25, 0.75])
    np.testing.assert_allclose(poses[:, :3, :3], np.broadcast_to(np.eye(3), (2, 3, 3)))
    np.testing.assert_allclose(poses[1, :3, 3], [0.75, 1.5, 2.25])


@pytest.mark.parametrize('fractions', [[-0.1], [0.5, 1.01], [np.nan]])
def test_interpolation_refuses_fractions_outside_the_segment(two_poses, fractions):
    with pytest.raises(ValueError, match='fractions'):
        interpolate_poses(*two_poses, fractions)


def test_nearest_rigid_projects_a_nearly_rigid_pose():
    pose = look_at([1.0, 2.0, 1.0], [0.0, 0.0, 1.0])
    noisy = pose.copy()
    noisy[:3, :3] += np.random.default_rng(0).normal(scale=1e-4, size=(3, 3))
    with pytest.raises(ValueError):
        validate_rigid(noisy)
    snapped = nearest_rigid(noisy)
    validate_rigid(snapped, atol=1e-12)
    np.testing.assert_allclose(snapped, pose, atol=5e-4)
    with pytest.raises(ValueError, match='orthonormal'):
        nearest_rigid(np.diag([1.1, 1.0, 1.0, 1.0]))


def blob_centre(image):
    """Return the intensity-weighted centre (u, v) of an image, in its pixel coordinates."""
    v, u = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return np.array([(u * image).sum(), (v * image).sum()]) / image.sum()


@pytest.mark.parametrize('interpolation', [cv2.INTER_AREA, cv2.INTER_LINEAR])
def test_scaled_camera_matches_a_resized_image(interpolation):
    camera = default_camera()
    point = np.array([0.31, -0.17, 2.0])        # in the camera frame
    u, v, w = camera.K @ point
    full_v, full_u = np.mgrid[0:camera.height, 0:camera.width]
    blob = np.exp(-((full_u - u / w) ** 2 + (full_v - v / w) ** 2) / (2 * 4.0 ** 2))
    half = cv2.resize(blob, (camera.width // 2, camera.height // 2), interpolation=interpolation)
    scaled = camera.scaled(camera.width // 2, camera.height // 2)
    assert (scaled.width, scaled.height, scaled.fx, scaled.cx) == (320, 240, 250.0, 159.5)
    projected = (scaled.K @ point)[:2] / point[2]
    np.testing.assert_allclose(blob_centre(half), projected, atol=0.02)
    # Scaling cx naively would be a quarter pixel off: the test tells the two apart.
    assert abs(camera.cx / 2 - scaled.cx) == 0.25


def test_scaled_camera_keeps_distortion_and_identity():
    camera = default_camera()
    assert camera.scaled(camera.width, camera.height) == camera
    np.testing.assert_array_equal(LENS.scaled(160, 120).distortion, LENS.distortion)


def ideal_pattern(u, v):
    """Return a smooth test pattern as a function of undistorted pixel coordinates."""
    return 127.5 + 100.0 * np.sin(u / 9.0) * np.cos(v / 7.0)


def distorted_image(camera, pattern):
    """Return what the distorting lens records of ``pattern`` (a function of ideal pixels)."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    recorded = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
    ideal = cv2.undistortPoints(recorded, camera.K, camera.distortion, R=None, P=camera.K,
                                criteria=criteria).reshape(camera.height, camera.width, 2)
    return pattern(ideal[..., 0], ideal[..., 1])


def test_undistort_recovers_the_ideal_pinhole_image():
    grey = np.clip(np.round(distorted_image(LENS, ideal_pattern)), 0, 255).astype(np.uint8)
    image = np.repeat(grey[..., None], 3, axis=2)
    undistorted, pinhole = undistort(LENS, image)
    assert undistorted.shape == image.shape and undistorted.dtype == np.uint8
    assert pinhole == PinholeCamera(320, 240, 250.0, 260.0, 161.0, 118.5)
    v, u = np.mgrid[0:LENS.height, 0:LENS.width]
    error = np.abs(undistorted[..., 0] - ideal_pattern(u, v))
    # Barrel distortion: every pixel of the undistorted image was seen (with K kept).
    assert error.max() < 3.0 and error.mean() < 0.7
    # Without undistortion the pattern is far off: the test has teeth.
    assert np.abs(grey - ideal_pattern(u, v)).mean() > 10 * error.mean()


def test_undistort_agrees_with_opencv():
    image = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (7, 7), 2.0)
    ours, _ = undistort(LENS, image)
    theirs = cv2.undistort(image, LENS.K, LENS.distortion)
    assert np.abs(ours.astype(int) - theirs).max() <= 2


def test_undistort_keeps_depth_values_and_invalid_pixels_apart():
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 4.0, (LENS.height, LENS.width)).astype(np.float32)
    depth[60:120, 100:200] = np.nan
    undistorted, _ = undistort(LENS, depth)
    assert undistorted.dtype == np.float32
    finite = undistorted[np.isfinite(undistorted)]
    # Nearest neighbour: every output depth is an input depth, none blended with NaN.
    assert np.all(np.isin(finite, depth))
    assert 0.8 < np.isnan(undistorted).sum() / np.isnan(depth).sum() < 1.3
    blended, _ = undistort(LENS, depth, interpolation='linear')
    assert not np.all(np.isin(blended[np.isfinite(blended)], depth))


def test_undistort_marks_pixels_outside_the_recording():
    pincushion = PinholeCamera(320, 240, 250.0, 250.0, 159.5, 119.5, distortion=[0.3, 0, 0, 0])
    undistorted, _ = undistort(pincushion, np.ones((240, 320), dtype=np.float32))
    assert np.isnan(undistorted[0, 0]) and undistorted[120, 160] == 1.0
    rgb, _ = undistort(pincushion, np.full((240, 320, 3), 200, dtype=np.uint8))
    assert rgb[0, 0].tolist() == [0, 0, 0]


def test_undistort_passes_pinhole_images_through_and_checks_sizes():
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    pinhole = PinholeCamera(64, 48, 50.0, 50.0, 31.5, 23.5)
    same, camera = undistort(pinhole, image)
    assert same is image and camera == pinhole
    with pytest.raises(ValueError, match='camera size'):
        undistort(LENS, image)
    with pytest.raises(ValueError, match='interpolation'):
        undistort(LENS, np.zeros((240, 320), np.float32), interpolation='lanczos')


def test_undistortion_maps_are_computed_once_per_camera():
    maps = _undistortion_maps(LENS)
    equal_camera = PinholeCamera(LENS.width, LENS.height, LENS.fx, LENS.fy, LENS.cx, LENS.cy,
                                 LENS.distortion)
    assert _undistortion_maps(equal_camera) is maps
    assert not maps[0].flags.writeable


def test_transform_points_matches_the_matrix_product():
    rng = np.random.default_rng(3)
    pose = look_at(rng.normal(size=3), rng.normal(size=3) + [5.0, 0.0, 0.0])
    points = rng.normal(size=(1000, 3))
    expected = points @ pose[:3, :3].T + pose[:3, 3]
    assert np.allclose(transform_points(pose, points), expected)
    assert np.allclose(transform_points(pose[:3, :3], points), points @ pose[:3, :3].T)
    single = transform_points(pose, points.astype(np.float32))
    assert single.dtype == np.float32 and np.allclose(single, expected, atol=1e-5)


def test_interpolation_with_no_fractions_is_empty():
    assert interpolate_poses(np.eye(4), look_at([0, 0, 0], [1, 0, 0]), []).shape == (0, 4, 4)
