# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` conversions section: the package's conversions beside the ROS libraries.

Each conversion of ``anyrecon_ros.ros.conversions`` runs on the same data as
its equivalent in sensor_msgs_py, cv_bridge or tf_transformations, written as
a user of that library would write it, and the two take turns in the same
process, so their ratio holds on a busy machine. Where a library is installed
the package uses it for the conversions it does at least as fast
(``ros/conversions/_ros_libraries.py``); the table says which one is used.
A library that is not installed is reported as such.
"""

import importlib
import statistics
import time

from geometry_msgs.msg import Point
from geometry_msgs.msg import Pose
from geometry_msgs.msg import Quaternion
import numpy as np
from transforms3d.quaternions import quat2mat

from anyrecon_ros.core.transforms import transform_from_quaternion
from anyrecon_ros.ros.conversions import array_to_image
from anyrecon_ros.ros.conversions import cloud_to_points
from anyrecon_ros.ros.conversions import depth_to_metres
from anyrecon_ros.ros.conversions import image_to_array
from anyrecon_ros.ros.conversions import matrix_to_pose
from anyrecon_ros.ros.conversions import points_to_cloud
from anyrecon_ros.ros.conversions import pose_to_matrix
from anyrecon_ros.ros.conversions.image import cv_bridge_rgb8
from anyrecon_ros.ros.conversions.image import CV_BRIDGE_RGB8_ENCODINGS
from anyrecon_ros.ros.conversions.image import numpy_rgb8

CLOUD_POINTS = 100_000
IMAGE_SIZE = (480, 640)
# Conversions of one pose take microseconds: each sample times this many.
POSE_BATCH = 200
LIBRARIES = {'sensor_msgs_py': 'sensor_msgs_py.point_cloud2', 'cv_bridge': 'cv_bridge',
             'tf_transformations': 'tf_transformations'}
NUMPY = 'numpy'


def bench_conversions(quick: bool) -> dict:
    """Time each conversion beside its library equivalent; return the figures by case."""
    repeats = 30 if quick else 150
    libraries = {name: _imported(module) for name, module in LIBRARIES.items()}
    figures = {}
    for case in _cases(libraries):
        name, library, ours, theirs, used, what = case
        row = {'library': library, 'uses': used, 'what': what}
        if theirs is None:
            row.update(ours_ms=_median_ms(ours, repeats), library_ms=None, ratio=None,
                       uses=NUMPY)
        else:
            row['ours_ms'], row['library_ms'] = _paired_medians_ms(ours, theirs, repeats)
            row['ratio'] = row['ours_ms'] / row['library_ms']
        figures[name] = row
    return figures


def conversions_table(figures: dict) -> list:
    """Return the conversions section as markdown lines."""
    lines = ['', f'Conversions ({CLOUD_POINTS} points, {IMAGE_SIZE[1]}x{IMAGE_SIZE[0]} images, '
             f'{POSE_BATCH} poses a sample): the numpy code of the package beside the named '
             'ROS library on the same data, in turns, medians in ms; "used" is what the '
             'package runs where the library is installed:', '',
             '| conversion | ours | library | library ms | ours / library | used | '
             'library equivalent |', '|---|---|---|---|---|---|---|']
    for name, row in figures.items():
        if row['library_ms'] is None:
            theirs, ratio = 'not installed', '-'
        else:
            theirs, ratio = f'{row["library_ms"]:.3f}', f'{row["ratio"]:.2f}'
        lines.append(f'| {name} | {row["ours_ms"]:.3f} | {row["library"]} | {theirs} | '
                     f'{ratio} | {row["uses"]} | {row["what"]} |')
    return lines


def _imported(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _cases(libraries) -> list:
    """Return (name, library, ours, theirs or None, used, what theirs runs) per conversion."""
    rng = np.random.default_rng(0)
    cases = []
    cases += _cloud_cases(libraries['sensor_msgs_py'], rng)
    cases += _image_cases(libraries['cv_bridge'], rng)
    cases += _pose_cases(libraries['tf_transformations'], rng)
    return cases


def _cloud_cases(point_cloud2, rng) -> list:
    xyz = rng.normal(size=(CLOUD_POINTS, 3)).astype(np.float32)
    xyz[::100] = np.nan   # not dense: both skip these points
    rgb = rng.integers(0, 256, (CLOUD_POINTS, 3), dtype=np.uint8)
    msg = points_to_cloud(xyz, rgb)

    def create():
        packed = ((rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8)
                  | rgb[:, 2])
        return point_cloud2.create_cloud(msg.header, msg.fields,
                                         np.column_stack([xyz, packed.view(np.float32)]))

    def read():
        points = point_cloud2.read_points(msg, skip_nans=True)
        bits = points['rgb'].view(np.uint32)
        return (np.stack([points[axis] for axis in 'xyz'], axis=-1),
                np.stack([(bits >> shift) & 0xFF for shift in (16, 8, 0)],
                         axis=-1).astype(np.uint8))
    installed = point_cloud2 is not None
    return [
        ('points_to_cloud (xyz, rgb)', 'sensor_msgs_py', lambda: points_to_cloud(xyz, rgb),
         create if installed else None, NUMPY,
         'pack rgb, create_cloud(header, fields, (N, 4) float32)'),
        ('cloud_to_points (NaNs skipped)', 'sensor_msgs_py', lambda: cloud_to_points(msg),
         read if installed else None, NUMPY,
         'read_points(skip_nans=True), xyz stacked, rgb unpacked'),
    ]


def _image_cases(cv_bridge, rng) -> list:
    bridge = None if cv_bridge is None else cv_bridge.CvBridge()
    rgb = rng.integers(0, 256, IMAGE_SIZE + (3,), dtype=np.uint8)
    rgb_msg = array_to_image(rgb, 'rgb8')
    millimetres = rng.integers(0, 8000, IMAGE_SIZE, dtype=np.uint16)
    depth_msg = array_to_image(millimetres, '16UC1')

    def write():
        # passthrough: an explicit encoding is checked against cv2's type
        # table, which disagrees with cv_bridge's extension when the two
        # OpenCV versions differ (docs/development.md); the bytes are the same.
        msg = bridge.cv2_to_imgmsg(rgb)
        msg.encoding = 'rgb8'
        return msg

    def depth():
        values = bridge.imgmsg_to_cv2(depth_msg).astype(np.float32)
        metres = values / np.float32(1000.0)
        metres[(values == 0) | (values == 65535)] = np.nan
        return metres
    installed = bridge is not None
    cases = [
        ('array_to_image (rgb8)', 'cv_bridge', lambda: array_to_image(rgb, 'rgb8'),
         write if installed else None, NUMPY, 'cv2_to_imgmsg'),
        ('image_to_array (rgb8)', 'cv_bridge', lambda: image_to_array(rgb_msg),
         (lambda: bridge.imgmsg_to_cv2(rgb_msg)) if installed else None, NUMPY,
         'imgmsg_to_cv2 (a copy; ours is a view of the message)'),
        ('depth_to_metres (16UC1)', 'cv_bridge', lambda: depth_to_metres(depth_msg),
         depth if installed else None, NUMPY, 'imgmsg_to_cv2, / 1000, 0 and 65535 NaN'),
    ]
    for encoding in ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'):
        channels = 1 if encoding == 'mono8' else len(encoding) - 1
        pixels = rgb[:, :, 0] if channels == 1 else np.concatenate(
            [rgb, rgb[:, :, :channels - 3]], axis=2)
        msg = array_to_image(pixels, encoding)
        used = 'cv_bridge' if encoding in CV_BRIDGE_RGB8_ENCODINGS else NUMPY
        cases.append((f'image_to_rgb8 ({encoding})', 'cv_bridge',
                      lambda msg=msg: numpy_rgb8(msg),
                      (lambda msg=msg: cv_bridge_rgb8(msg)) if installed else None,
                      used, "imgmsg_to_cv2(msg, 'rgb8') after the same checks"))
    return cases


def _pose_cases(tft, rng) -> list:
    transform = transform_from_quaternion(rng.uniform(-5, 5, 3), rng.normal(size=4))
    pose = matrix_to_pose(transform)

    def to_matrix():
        for _ in range(POSE_BATCH):
            p, q = pose.position, pose.orientation
            tft.concatenate_matrices(tft.translation_matrix((p.x, p.y, p.z)),
                                     tft.quaternion_matrix((q.x, q.y, q.z, q.w)))

    def to_pose():
        for _ in range(POSE_BATCH):
            q = tft.quaternion_from_matrix(transform)
            t = tft.translation_from_matrix(transform)
            Pose(position=Point(x=t[0], y=t[1], z=t[2]),
                 orientation=Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]))

    def ours_to_matrix():
        for _ in range(POSE_BATCH):
            pose_to_matrix(pose)

    # The rotation alone, without checks: what pose_to_matrix computes with
    # transforms3d, and tf_transformations' quaternion_matrix (transforms3d's
    # quat2mat, then affines.compose).
    q = pose.orientation

    def rotation():
        for _ in range(POSE_BATCH):
            matrix = np.eye(4)
            matrix[:3, :3] = quat2mat((q.w, q.x, q.y, q.z))

    def tf_rotation():
        for _ in range(POSE_BATCH):
            tft.quaternion_matrix((q.x, q.y, q.z, q.w))

    def ours_to_pose():
        for _ in range(POSE_BATCH):
            matrix_to_pose(transform)
    installed = tft is not None
    return [
        (f'pose_to_matrix (x{POSE_BATCH})', 'tf_transformations', ours_to_matrix,
         to_matrix if installed else None, NUMPY,
         'translation_matrix @ quaternion_matrix; no checks (ours: finite, unit quaternion, '
         'translation bound)'),
        (f'quaternion to 4x4, no checks (x{POSE_BATCH})', 'tf_transformations', rotation,
         tf_rotation if installed else None, NUMPY,
         'quaternion_matrix; ours: transforms3d quat2mat into np.eye(4)'),
        (f'matrix_to_pose (x{POSE_BATCH})', 'tf_transformations', ours_to_pose,
         to_pose if installed else None, NUMPY,
         'quaternion_from_matrix, translation_from_matrix, a Pose; no checks (ours: rigid)'),
    ]


def _median_ms(function, repeats: int) -> float:
    function()
    return statistics.median(_time_ms(function) for _ in range(repeats))


def _paired_medians_ms(ours, theirs, repeats: int) -> tuple:
    """Return the median times of ``ours`` and ``theirs``, run in turns after a warm-up."""
    ours(), theirs()
    times = [(_time_ms(ours), _time_ms(theirs)) for _ in range(repeats)]
    return (statistics.median(ours_ms for ours_ms, _ in times),
            statistics.median(theirs_ms for _, theirs_ms in times))


def _time_ms(function) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000.0
