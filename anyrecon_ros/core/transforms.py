# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""4x4 rigid transforms and quaternions (x, y, z, w order, as in ROS).

Convention: a transform is the pose of a child frame (a camera) in its parent
frame (the world), so ``p_world = T @ p_camera`` for homogeneous points:
camera-to-world.
"""

import numpy as np
from transforms3d.axangles import axangle2mat
from transforms3d.quaternions import mat2quat, quat2axangle, quat2mat

# Below this norm a quaternion carries no usable direction: it is a bug upstream
# (an unset message field), not a rotation to normalise.
_MIN_QUATERNION_NORM = 1e-12
# Farthest a pose may be from the map origin, in map units (metres for RGB-D and
# odometry): 10 km is beyond any one map, and it bounds everything sized by
# the map's extent (voxel keys, planning grids, renders).
MAX_TRANSLATION = 1e4


def quaternion_xyzw_to_matrix(q) -> np.ndarray:
    """Return the 3x3 rotation of a quaternion given as x, y, z, w, normalising it."""
    q = _finite_vector('quaternion', q, 4)
    norm = np.linalg.norm(q)
    if norm < _MIN_QUATERNION_NORM:
        raise ValueError(f'quaternion {q.tolist()} has zero norm')
    x, y, z, w = q / norm
    return quat2mat((w, x, y, z))


def matrix_to_quaternion_xyzw(rotation) -> np.ndarray:
    """Return the unit quaternion x, y, z, w (with w >= 0) of a 3x3 rotation matrix."""
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3) or not np.all(np.isfinite(rotation)):
        raise ValueError(f'rotation must be a finite 3x3 matrix, got {rotation.tolist()}')
    w, x, y, z = mat2quat(rotation)
    return np.array([x, y, z, w])


def make_transform(rotation, translation) -> np.ndarray:
    """Return the 4x4 transform made of a 3x3 rotation and a translation."""
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3):
        raise ValueError(f'rotation must be 3x3, got shape {rotation.shape}')
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = _bounded_translation(_finite_vector('translation', translation, 3))
    return transform


def transform_from_quaternion(translation, q_xyzw) -> np.ndarray:
    """Return the 4x4 transform of a translation and an x, y, z, w quaternion."""
    return make_transform(quaternion_xyzw_to_matrix(q_xyzw), translation)


def transform_to_quaternion(transform) -> tuple[np.ndarray, np.ndarray]:
    """Split a rigid 4x4 transform into its translation and x, y, z, w quaternion."""
    transform = validate_rigid(transform)
    return transform[:3, 3].copy(), matrix_to_quaternion_xyzw(transform[:3, :3])


def validate_rigid(transform, atol=1e-4) -> np.ndarray:
    """Return ``transform`` as a float64 array, raising ValueError unless it is rigid."""
    transform = np.asarray(transform, dtype=np.float64)
    if transform.shape != (4, 4):
        raise ValueError(f'a rigid transform is 4x4, got shape {transform.shape}')
    if not np.all(np.isfinite(transform)):
        raise ValueError('a rigid transform must be finite')
    if not np.array_equal(transform[3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError(f'a rigid transform ends in row 0 0 0 1, got {transform[3].tolist()}')
    rotation = transform[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=atol):
        raise ValueError('the rotation of a rigid transform must be orthonormal')
    if not np.isclose(np.linalg.det(rotation), 1.0, atol=atol):
        raise ValueError('the rotation of a rigid transform must have determinant +1 '
                         '(a reflection is not a rotation)')
    _bounded_translation(transform[:3, 3])
    return transform


def _bounded_translation(translation) -> np.ndarray:
    if np.max(np.abs(translation)) > MAX_TRANSLATION:
        raise ValueError(f'translation {translation.tolist()} is farther than '
                         f'{MAX_TRANSLATION:g} from the origin in some axis')
    return translation


def _finite_vector(name, values, size) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    if vector.shape != (size,):
        raise ValueError(f'{name} must have {size} components, got shape {vector.shape}')
    if not np.all(np.isfinite(vector)):
        raise ValueError(f'{name} must be finite, got {vector.tolist()}')
    return vector


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Return the camera-to-world pose of a camera at ``eye`` looking at ``target``.

    Optical axes (x right, y down, z forward); ``up`` is the world's up (z in
    REP 103). Raises ValueError when the view direction is parallel to ``up``.
    """
    eye = _finite_vector('eye', eye, 3)
    forward = _finite_vector('target', target, 3) - eye
    right = np.cross(forward, _finite_vector('up', up, 3))
    if np.linalg.norm(forward) < 1e-9 or np.linalg.norm(right) < 1e-9 * np.linalg.norm(forward):
        raise ValueError('look_at needs a target away from the eye and not straight up or down')
    forward /= np.linalg.norm(forward)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return make_transform(np.column_stack([right, down, forward]), eye)


def nearest_rigid(transform, atol=1e-3) -> np.ndarray:
    """Return the rigid transform nearest a nearly rigid one, raising ValueError when it is not.

    Poses stored as text or tracked in float32 (KinectFusion's, to 2e-4) are
    rigid only to a few digits; downstream maths wants an exact rotation, so
    the rotation is projected onto SO(3) (the orthogonal polar factor, by SVD)
    once ``transform`` passed ``validate_rigid`` at tolerance ``atol``.
    """
    transform = validate_rigid(transform, atol=atol).copy()
    u, _, vt = np.linalg.svd(transform[:3, :3])
    transform[:3, :3] = u @ vt
    return transform


def interpolate_poses(pose_a, pose_b, fractions) -> np.ndarray:
    """Return (N, 4, 4) poses between two rigid transforms at ``fractions`` in [0, 1].

    The rotation turns about one fixed axis through the smaller angle (slerp)
    and the translation, the camera centre of a camera-to-world pose, moves on
    a straight line, both at constant speed; fraction 0 gives ``pose_a`` and 1
    gives ``pose_b``.
    """
    pose_a, pose_b = validate_rigid(pose_a), validate_rigid(pose_b)
    fractions = np.atleast_1d(np.asarray(fractions, dtype=np.float64))
    if fractions.ndim != 1 or not np.all((fractions >= 0.0) & (fractions <= 1.0)):
        raise ValueError(f'fractions must be a 1-D sequence in [0, 1], got {fractions.tolist()}')
    # mat2quat returns w >= 0, so the angle is in [0, pi]: the short way round.
    # It also tolerates the slightly non-orthonormal rotations of stored poses.
    axis, angle = quat2axangle(mat2quat(pose_a[:3, :3].T @ pose_b[:3, :3]))
    poses = np.tile(np.eye(4), (fractions.size, 1, 1))
    if not fractions.size:
        return poses
    poses[:, :3, :3] = [pose_a[:3, :3] @ axangle2mat(axis, f * angle) for f in fractions]
    poses[:, :3, 3] = pose_a[:3, 3] + fractions[:, None] * (pose_b[:3, 3] - pose_a[:3, 3])
    return poses


def transform_points(transform, points) -> np.ndarray:
    """Apply a 4x4 transform (or a 3x3 rotation) to points (N, 3), keeping their dtype.

    One matrix-vector product per output column: numpy's (N, 3) x (3, 3)
    matrix product takes a slow path that costs several times more for large N.
    """
    points = np.asarray(points)
    matrix = np.asarray(transform, dtype=points.dtype if points.dtype.kind == 'f' else None)
    columns = [points @ matrix[row, :3] for row in range(3)]
    if matrix.shape == (4, 4):
        columns = [column + matrix[row, 3] for row, column in enumerate(columns)]
    return np.stack(columns, axis=1)
