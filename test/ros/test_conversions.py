# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Unit and property tests of the message conversions, the camera and the transforms."""

import math
import struct

from geometry_msgs.msg import (Pose, PoseStamped, PoseWithCovariance, Quaternion, Transform,
                               TransformStamped)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from nav_msgs.msg import Odometry
import numpy as np
import pytest
from rclpy.time import Time
from ros_packages import ros_module
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.transforms import (make_transform, matrix_to_quaternion_xyzw,
                                          quaternion_xyzw_to_matrix, transform_from_quaternion,
                                          transform_to_quaternion, validate_rigid)
from anyrecon_ros.ros.conversions import (array_to_image, camera_info_to_camera,
                                          camera_to_camera_info, cloud_to_points,
                                          ConversionError, depth_to_metres, image_to_array,
                                          image_to_rgb8, matrix_to_pose,
                                          matrix_to_transform_stamped, odometry_to_matrix,
                                          points_to_cloud, pose_stamped_to_matrix,
                                          pose_to_matrix, transform_to_matrix)
from anyrecon_ros.ros.conversions import image as image_module
from anyrecon_ros.ros.conversions.image import cv_bridge_rgb8
from anyrecon_ros.ros.conversions.image import CV_BRIDGE_RGB8_ENCODINGS
from anyrecon_ros.ros.conversions.image import ENCODINGS
from anyrecon_ros.ros.conversions.image import numpy_rgb8

# Bytes a foreign publisher may leave in row padding; the readers must skip them.
PADDING_BYTE = 0xAB
COLOUR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8')
settings.register_profile('conversions', deadline=None, max_examples=60)
settings.load_profile('conversions')


# --- helpers ----------------------------------------------------------------------------------

def pixel_shape(encoding, height, width):
    """Return the array shape image_to_array gives for an encoding."""
    channels = ENCODINGS[encoding][1]
    return (height, width) if channels == 1 else (height, width, channels)


@st.composite
def encoded_pixels(draw, max_side=12):
    """Draw an encoding and a random pixel array for it (floats include NaN and inf)."""
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    pixels = draw(hnp.arrays(ENCODINGS[encoding][0], pixel_shape(encoding, height, width)))
    return encoding, pixels


def foreign_image(pixels, encoding, padding=0, big_endian=False):
    """Return an Image as another publisher may send it: padded rows, either byte order."""
    height, width = pixels.shape[:2]
    dtype = pixels.dtype.newbyteorder('>' if big_endian else '<')
    rows = pixels.astype(dtype).reshape(height, -1).view(np.uint8)
    rows = np.hstack([rows, np.full((height, padding), PADDING_BYTE, np.uint8)])
    return Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian),
                 step=rows.shape[1], data=rows.tobytes())


quaternions = st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4).filter(
    lambda q: np.linalg.norm(q) > 0.1)
translations = st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3)
rigid_transforms = st.builds(transform_from_quaternion, translations, quaternions)


# --- images -----------------------------------------------------------------------------------

@given(encoded_pixels())
def test_image_round_trip_every_encoding(case):
    """Write any image little-endian and unpadded, and read it back unchanged."""
    encoding, pixels = case
    msg = array_to_image(pixels, encoding, Header(frame_id='camera'))
    assert (msg.encoding, msg.header.frame_id, msg.is_bigendian) == (encoding, 'camera', 0)
    assert (msg.height, msg.width) == pixels.shape[:2]
    assert msg.step == pixels[0].nbytes and len(msg.data) == pixels.nbytes
    assert msg.data.tobytes() == pixels.astype(pixels.dtype.newbyteorder('<')).tobytes()
    restored = image_to_array(msg)
    assert restored.dtype == pixels.dtype and restored.dtype.isnative
    np.testing.assert_array_equal(restored, pixels)


@given(encoded_pixels(), st.integers(0, 9), st.booleans())
def test_reads_padded_rows_in_either_byte_order(case, padding, big_endian):
    """Skip row padding and swap big-endian pixels into native order."""
    encoding, pixels = case
    restored = image_to_array(foreign_image(pixels, encoding, padding, big_endian))
    assert restored.dtype.isnative and restored.shape == pixels.shape
    np.testing.assert_array_equal(restored, pixels)


def test_reads_big_endian_16_bit_values():
    """Read big-endian 16-bit pixels with their intended values."""
    pixels = np.array([[1, 256, 65535]], np.uint16)
    msg = Image(height=1, width=3, encoding='16UC1', is_bigendian=1, step=6,
                data=bytes([0, 1, 1, 0, 255, 255]))
    np.testing.assert_array_equal(image_to_array(msg), pixels)


def test_one_channel_arrays_may_have_a_channel_axis():
    """Accept (H, W, 1) arrays for one-channel encodings."""
    pixels = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    np.testing.assert_array_equal(image_to_array(array_to_image(pixels, 'mono8')), pixels[..., 0])


@pytest.mark.parametrize('encoding', ['yuv422', 'bayer_rggb8', '8UC3', 'RGB8', ''])
def test_unsupported_encodings_are_named(encoding):
    """Name the encoding when rejecting one that is not supported."""
    msg = Image(height=1, width=1, encoding=encoding, step=3, data=bytes(3))
    with pytest.raises(ConversionError, match=f'unsupported image encoding {encoding!r}'):
        image_to_array(msg)
    with pytest.raises(ConversionError, match=repr(encoding)):
        array_to_image(np.zeros((1, 1, 3), np.uint8), encoding)


@pytest.mark.parametrize('height, width, step, size, reason', [
    (2, 3, 8, 18, 'step 8 is shorter'),
    (2, 3, 9, 17, 'data has 17 bytes'),
    (2, 3, 12, 18, 'data has 18 bytes'),
    (2, 3, 9, 19, 'data has 19 bytes, but step'),
    (4097, 4096, 12288, 36, 'more than the 16777216 pixels'),
    (0, 3, 9, 0, 'empty'),
    (2, 0, 0, 0, 'empty'),
])
def test_rejects_lying_sizes(height, width, step, size, reason):
    """Reject images whose step, size and data length disagree, saying how."""
    msg = Image(height=height, width=width, encoding='rgb8', step=step, data=bytes(size))
    with pytest.raises(ConversionError, match=reason):
        image_to_array(msg)


@pytest.mark.parametrize('pixels, encoding, reason', [
    (np.zeros((2, 2, 3), np.float32), 'rgb8', 'uint8'),
    (np.zeros((2, 2), np.uint8), 'rgb8', r'shape \(H, W, 3\)'),
    (np.zeros((2, 2, 4), np.uint8), 'bgr8', r'shape \(H, W, 3\)'),
    (np.zeros((2, 2), np.uint8), '16UC1', 'uint16'),
    (np.zeros((2, 2), np.float64), '32FC1', 'float32'),
    (np.zeros((2, 2, 2), np.uint16), 'mono16', r'shape \(H, W\)'),
    (np.zeros((0, 2, 3), np.uint8), 'rgb8', 'empty'),
])
def test_array_to_image_validates_the_array(pixels, encoding, reason):
    """Reject arrays whose dtype or shape does not fit the encoding."""
    with pytest.raises(ConversionError, match=reason):
        array_to_image(pixels, encoding)


def test_array_to_image_writes_big_endian_arrays_little_endian():
    """Store big-endian input arrays little-endian."""
    pixels = np.array([[1, 2]], dtype='>u2')
    msg = array_to_image(pixels, 'mono16')
    assert msg.data.tobytes() == bytes([1, 0, 2, 0])


@pytest.mark.parametrize('encoding', COLOUR_ENCODINGS + ('mono8',))
@given(rgb=hnp.arrays(np.uint8, st.tuples(st.integers(1, 8), st.integers(1, 8), st.just(3))),
       padding=st.integers(0, 5))
def test_image_to_rgb8(encoding, rgb, padding):
    """Reorder colour channels to RGB, drop alpha and repeat mono into three channels."""
    if encoding == 'mono8':
        rgb = np.repeat(rgb[..., :1], 3, axis=2)
    alpha = np.full(rgb.shape[:2] + (1,), 7, np.uint8)
    pixels = {'rgb8': rgb, 'bgr8': rgb[..., ::-1], 'rgba8': np.concatenate([rgb, alpha], 2),
              'bgra8': np.concatenate([rgb[..., ::-1], alpha], 2), 'mono8': rgb[..., 0]}[encoding]
    converted = image_to_rgb8(foreign_image(pixels, encoding, padding))
    assert converted.dtype == np.uint8 and converted.flags.c_contiguous
    np.testing.assert_array_equal(converted, rgb)


@pytest.mark.parametrize('encoding', ['mono16', '16UC1', '32FC1'])
def test_image_to_rgb8_rejects_non_colour_encodings(encoding):
    """Refuse to guess colours for depth and 16-bit images."""
    msg = array_to_image(np.zeros((1, 1), ENCODINGS[encoding][0]), encoding)
    with pytest.raises(ConversionError, match=encoding):
        image_to_rgb8(msg)


@pytest.mark.parametrize('encoding', ['16UC1', 'mono16'])
def test_depth_from_millimetres(encoding):
    """Scale 16-bit millimetres to metres, with NaN for 0 and 65535."""
    millimetres = np.array([[0, 1, 1500], [65535, 65534, 250]], np.uint16)
    metres = depth_to_metres(foreign_image(millimetres, encoding, padding=2, big_endian=True))
    assert metres.dtype == np.float32 and metres.shape == (2, 3)
    np.testing.assert_array_equal(
        metres, np.array([[np.nan, 0.001, 1.5], [np.nan, 65.534, 0.25]], np.float32))


def test_depth_from_metres_marks_invalid_values():
    """Mark zero, negative and non-finite metres NaN, in a copy."""
    depth = np.array([[0.0, 1.25, -1.0], [np.inf, -np.inf, np.nan]], np.float32)
    msg = array_to_image(depth, '32FC1')
    metres = depth_to_metres(msg)
    np.testing.assert_array_equal(metres, np.array([[np.nan, 1.25, np.nan]] + [[np.nan] * 3],
                                                   np.float32))
    np.testing.assert_array_equal(image_to_array(msg), depth)  # the message is left alone


@pytest.mark.parametrize('encoding', ['rgb8', 'mono8', '32FC3'])
def test_depth_rejects_other_encodings(encoding):
    """Name the encoding of an image that holds no depth."""
    msg = Image(height=1, width=1, encoding=encoding, step=3, data=bytes(3))
    with pytest.raises(ConversionError, match=encoding):
        depth_to_metres(msg)


# --- cameras ----------------------------------------------------------------------------------

@pytest.mark.parametrize('changes, reason', [
    ({'fx': 0.0}, 'fx must be positive'),
    ({'fy': -500.0}, 'fy must be positive'),
    ({'fx': math.nan}, 'fx must be finite'),
    ({'fy': math.inf}, 'fy must be finite'),
    ({'cx': math.nan}, 'cx must be finite'),
    ({'width': 0}, 'width must be a positive integer'),
    ({'height': 4.5}, 'height must be a positive integer'),
    ({'distortion': [0.1, 0.0, 0.0]}, '4 or 5 coefficients'),
    ({'distortion': [0.1, math.nan, 0.0, 0.0, 0.0]}, 'must be finite'),
])
def test_camera_validation(changes, reason):
    """Reject impossible intrinsics with a message naming the field."""
    fields = {'width': 640, 'height': 480, 'fx': 500.0, 'fy': 500.0, 'cx': 320.0, 'cy': 240.0}
    with pytest.raises(ValueError, match=reason):
        PinholeCamera(**{**fields, **changes})


def test_camera_canonical_fields():
    """Store canonical types, pad 4 coefficients to 5 and drop all-zero distortion."""
    camera = PinholeCamera(np.int64(640), 480, 500, 501, 320, 240, distortion=[0.1, 0.2, 0, 0])
    assert isinstance(camera.width, int) and isinstance(camera.fx, float)
    np.testing.assert_array_equal(camera.distortion, [0.1, 0.2, 0.0, 0.0, 0.0])
    assert camera.has_distortion and not camera.distortion.flags.writeable
    np.testing.assert_array_equal(camera.K, [[500, 0, 320], [0, 501, 240], [0, 0, 1]])
    undistorted = PinholeCamera(640, 480, 500, 501, 320, 240, distortion=np.zeros(5))
    assert undistorted.distortion is None and not undistorted.has_distortion
    assert undistorted == PinholeCamera(640, 480, 500, 501, 320, 240)
    assert hash(camera) == hash(PinholeCamera(640, 480, 500, 501, 320, 240, [0.1, 0.2, 0, 0, 0]))


cameras = st.builds(
    PinholeCamera, width=st.integers(1, 4096), height=st.integers(1, 4096),
    fx=st.floats(1e-3, 1e5), fy=st.floats(1e-3, 1e5), cx=st.floats(-1e4, 1e4),
    cy=st.floats(-1e4, 1e4),
    distortion=st.none() | st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=5))


@given(cameras)
def test_camera_info_round_trip(camera):
    """Write K, P, R and plumb_bob, and read the same camera back."""
    msg = camera_to_camera_info(camera, Header(frame_id='camera'))
    assert msg.distortion_model == 'plumb_bob' and msg.header.frame_id == 'camera'
    assert len(msg.d) == (5 if camera.has_distortion else 0)
    np.testing.assert_array_equal(msg.k.reshape(3, 3), camera.K)
    np.testing.assert_array_equal(msg.p.reshape(3, 4), np.hstack([camera.K, np.zeros((3, 1))]))
    np.testing.assert_array_equal(msg.r.reshape(3, 3), np.eye(3))
    assert camera_info_to_camera(msg) == camera


def camera_info(fx=500.0, fy=500.0, model='plumb_bob', d=(0.1, 0.0, 0.0, 0.0, 0.0)):
    """Return a 640x480 CameraInfo with the given focal lengths and distortion."""
    msg = CameraInfo(width=640, height=480, distortion_model=model, d=list(d))
    msg.k = np.array([fx, 0.0, 320.0, 0.0, fy, 240.0, 0.0, 0.0, 1.0])
    return msg


@pytest.mark.parametrize('fx, fy, reason', [
    (0.0, 500.0, 'fx must be positive'), (500.0, -1.0, 'fy must be positive'),
    (math.nan, 500.0, 'fx must be finite'), (500.0, math.inf, 'fy must be finite'),
])
def test_camera_info_rejects_bad_focal_lengths(fx, fy, reason):
    """Reject zero, negative and non-finite focal lengths, saying why."""
    with pytest.raises(ConversionError, match=f'invalid CameraInfo intrinsics: camera {reason}'):
        camera_info_to_camera(camera_info(fx, fy))


def test_camera_info_rejects_an_uncalibrated_all_zero_k():
    """Reject the all-zero K of an uncalibrated camera."""
    msg = CameraInfo(width=640, height=480)
    with pytest.raises(ConversionError, match='fx must be positive'):
        camera_info_to_camera(msg)


@pytest.mark.parametrize('model, d, distortion', [
    ('plumb_bob', [0.1, 0.2, 0.01, 0.02, 0.3], [0.1, 0.2, 0.01, 0.02, 0.3]),
    ('plumb_bob', [0.1, 0.2, 0.01, 0.02], [0.1, 0.2, 0.01, 0.02, 0.0]),
    ('plumb_bob', [], None),
    ('plumb_bob', [0.0] * 5, None),
    ('rational_polynomial', [0.1, 0.2, 0.01, 0.02, 0.3, 0.0, 0.0, 0.0],
     [0.1, 0.2, 0.01, 0.02, 0.3]),
    ('', [], None),
    ('', [0.0] * 5, None),
])
def test_camera_info_distortion_models(model, d, distortion):
    """Read plumb_bob, zero-extra rational_polynomial and no distortion."""
    camera = camera_info_to_camera(camera_info(model=model, d=d))
    if distortion is None:
        assert camera.distortion is None
    else:
        np.testing.assert_array_equal(camera.distortion, distortion)


@pytest.mark.parametrize('model, d, reason', [
    ('equidistant', [0.1, 0.0, 0.0, 0.0], "'equidistant'"),
    ('fisheye', [], "'fisheye'"),
    ('rational_polynomial', [0.1, 0.2, 0.0, 0.0, 0.3, 0.5, 0.0, 0.0], 'non-zero k4..k6'),
    ('', [0.1, 0.0, 0.0, 0.0, 0.0], "model ''"),
    ('plumb_bob', [0.1] * 8, '4 or 5 coefficients'),
])
def test_camera_info_rejects_unsupported_distortion(model, d, reason):
    """Reject distortion that plumb_bob cannot express, naming it."""
    with pytest.raises(ConversionError, match=reason):
        camera_info_to_camera(camera_info(model=model, d=d))


def test_camera_info_rejects_skew_binning_and_roi():
    """Reject what would silently change the intrinsics."""
    skewed = camera_info()
    skewed.k[1] = 2.0
    with pytest.raises(ConversionError, match='skew'):
        camera_info_to_camera(skewed)
    binned = camera_info()
    binned.binning_x = 2
    with pytest.raises(ConversionError, match='binning 2x0'):
        camera_info_to_camera(binned)
    cropped = camera_info()
    cropped.roi.width, cropped.roi.height = 320, 240
    with pytest.raises(ConversionError, match='region of interest 320x240'):
        camera_info_to_camera(cropped)
    full = camera_info()
    full.roi.width, full.roi.height = 640, 480
    assert camera_info_to_camera(full).width == 640


# --- transforms and poses ---------------------------------------------------------------------

def test_quaternion_of_a_quarter_turn_about_z():
    """Check the x, y, z, w order against a known rotation."""
    half_angle = math.pi / 4
    rotation = quaternion_xyzw_to_matrix([0.0, 0.0, math.sin(half_angle), math.cos(half_angle)])
    np.testing.assert_allclose(rotation, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


@given(quaternions)
def test_quaternion_matrix_round_trip(q):
    """Recover any normalised quaternion (up to sign) from its matrix, w >= 0."""
    rotation = quaternion_xyzw_to_matrix(q)
    validate_rigid(make_transform(rotation, [0, 0, 0]))
    unit = matrix_to_quaternion_xyzw(rotation)
    assert unit[3] >= 0.0 and np.isclose(np.linalg.norm(unit), 1.0)
    # q and -q are the same rotation: compare up to sign, after normalising q.
    expected = np.asarray(q) / np.linalg.norm(q)
    assert np.allclose(unit, expected, atol=1e-9) or np.allclose(unit, -expected, atol=1e-9)


@pytest.mark.parametrize('q, reason', [
    ([0.0, 0.0, 0.0, 0.0], 'zero norm'),
    ([0.0, 0.0, 0.0, math.nan], 'finite'),
    ([math.inf, 0.0, 0.0, 1.0], 'finite'),
    ([0.0, 0.0, 1.0], '4 components'),
])
def test_quaternion_rejects_invalid(q, reason):
    """Reject zero-norm, non-finite and wrongly sized quaternions."""
    with pytest.raises(ValueError, match=reason):
        quaternion_xyzw_to_matrix(q)


@given(rigid_transforms)
def test_transform_quaternion_round_trip(transform):
    """Split any rigid transform and rebuild it."""
    translation, q = transform_to_quaternion(transform)
    np.testing.assert_allclose(transform_from_quaternion(translation, q), transform, atol=1e-9)


def test_validate_rigid_rejects_non_rigid_matrices():
    """Reject reflections, scales, projective rows, NaN, wrong shapes."""
    reflection = np.diag([1.0, 1.0, -1.0, 1.0])
    scaled = np.diag([2.0, 2.0, 2.0, 1.0])
    projective = np.eye(4)
    projective[3, 0] = 0.5
    with_nan = np.eye(4)
    with_nan[0, 3] = math.nan
    cases = [(reflection, 'determinant'), (scaled, 'orthonormal'), (projective, '0 0 0 1'),
             (with_nan, 'finite'), (np.eye(3), '4x4')]
    for matrix, reason in cases:
        with pytest.raises(ValueError, match=reason):
            validate_rigid(matrix)
    np.testing.assert_array_equal(validate_rigid(np.eye(4, dtype=np.float32)), np.eye(4))


@given(rigid_transforms)
def test_pose_round_trips(transform):
    """Round-trip any rigid transform through every pose message type."""
    pose = matrix_to_pose(transform)
    q = pose.orientation
    assert math.isclose(q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2, 1.0) and q.w >= 0.0
    np.testing.assert_allclose(pose_to_matrix(pose), transform, atol=1e-9)
    np.testing.assert_allclose(pose_stamped_to_matrix(PoseStamped(pose=pose)), transform,
                               atol=1e-9)
    odometry = Odometry()
    odometry.pose.pose = pose
    np.testing.assert_allclose(odometry_to_matrix(odometry), transform, atol=1e-9)
    stamped = matrix_to_transform_stamped(transform, 'world', 'camera')
    assert (stamped.header.frame_id, stamped.child_frame_id) == ('world', 'camera')
    np.testing.assert_allclose(transform_to_matrix(stamped), transform, atol=1e-9)
    np.testing.assert_allclose(transform_to_matrix(stamped.transform), transform, atol=1e-9)


def test_pose_quaternion_off_by_rounding_is_normalised():
    """Normalise a quaternion a float32 producer rounded, instead of scaling the rotation."""
    half = math.sqrt(0.5) * 1.003
    pose = Pose(orientation=Quaternion(x=0.0, y=0.0, z=half, w=half))
    np.testing.assert_allclose(pose_to_matrix(pose)[:3, :3],
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


@pytest.mark.parametrize('to_matrix, message', [
    (pose_to_matrix, Pose(orientation=Quaternion(x=0.0, y=0.0, z=3.0, w=3.0))),
    (pose_stamped_to_matrix, PoseStamped(pose=Pose(orientation=Quaternion(w=1.05)))),
    (odometry_to_matrix, Odometry(pose=PoseWithCovariance(pose=Pose(
        orientation=Quaternion(w=0.9))))),
    (transform_to_matrix, Transform(rotation=Quaternion(x=1.0, w=1.0)))])
def test_quaternion_far_from_unit_length_is_refused(to_matrix, message):
    with pytest.raises(ConversionError, match='not of unit length'):
        to_matrix(message)


@pytest.mark.parametrize('position, orientation, reason', [
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0), 'zero norm'),
    ((0.0, 0.0, 0.0), (math.nan, 0.0, 0.0, 1.0), 'quaternion must be finite'),
    ((0.0, 0.0, 0.0), (0.0, math.inf, 0.0, 1.0), 'quaternion must be finite'),
    ((math.nan, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0), 'translation must be finite'),
    ((0.0, 0.0, -math.inf), (0.0, 0.0, 0.0, 1.0), 'translation must be finite'),
])
def test_pose_rejects_invalid_values(position, orientation, reason):
    """Reject zero or non-finite quaternions and non-finite positions."""
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = position
    q = pose.orientation
    q.x, q.y, q.z, q.w = orientation
    odometry = Odometry()
    odometry.pose.pose = pose
    transform = TransformStamped()
    translation = transform.transform.translation
    translation.x, translation.y, translation.z = position
    transform.transform.rotation = q
    for convert, msg in [(pose_to_matrix, pose), (pose_stamped_to_matrix, PoseStamped(pose=pose)),
                         (odometry_to_matrix, odometry), (transform_to_matrix, transform)]:
        with pytest.raises(ConversionError, match=reason):
            convert(msg)


def test_matrix_to_pose_rejects_non_rigid_matrices():
    """Refuse to write a pose for a matrix that is not rigid."""
    with pytest.raises(ConversionError, match='not a rigid transform'):
        matrix_to_pose(np.diag([1.0, 2.0, 1.0, 1.0]))
    with pytest.raises(ConversionError, match='not a rigid transform'):
        matrix_to_transform_stamped(np.full((4, 4), math.nan), 'world', 'camera')


def test_transform_stamped_stamp():
    """Accept an rclpy Time or a builtin_interfaces Time as stamp."""
    clock_time = Time(seconds=12, nanoseconds=345)
    stamped = matrix_to_transform_stamped(np.eye(4), 'world', 'camera', clock_time)
    assert (stamped.header.stamp.sec, stamped.header.stamp.nanosec) == (12, 345)
    stamped = matrix_to_transform_stamped(np.eye(4), 'world', 'camera', clock_time.to_msg())
    assert (stamped.header.stamp.sec, stamped.header.stamp.nanosec) == (12, 345)


# --- point clouds -----------------------------------------------------------------------------

@st.composite
def clouds(draw):
    """Draw xyz (with NaNs), optional rgb and up to two extra fields for the same points."""
    count = draw(st.integers(0, 40))
    xyz = draw(hnp.arrays(np.float32, (count, 3), elements=st.floats(-1e6, 1e6, width=32)
                          | st.just(np.nan)))
    rgb = draw(st.none() | hnp.arrays(np.uint8, (count, 3)))
    names = draw(st.lists(st.sampled_from(['intensity', 'label', 'confidence']), unique=True,
                          max_size=2))
    extras = {name: draw(hnp.arrays(np.float32, count, elements=st.floats(width=32)))
              for name in names}
    return xyz, rgb, extras


@given(clouds())
def test_cloud_round_trip(cloud):
    """Round-trip points, colours and extra fields, with and without NaN points."""
    xyz, rgb, extras = cloud
    msg = points_to_cloud(xyz, rgb, extras, Header(frame_id='map'))
    assert msg.is_dense == bool(np.isfinite(xyz).all())
    read_xyz, read_rgb, read_extras = cloud_to_points(msg, skip_nans=False)
    np.testing.assert_array_equal(read_xyz, xyz)
    np.testing.assert_array_equal(read_rgb, rgb)
    assert list(read_extras) == list(extras)
    for name, values in extras.items():
        np.testing.assert_array_equal(read_extras[name], values)
    finite = np.isfinite(xyz).all(axis=1)
    kept_xyz, kept_rgb, kept_extras = cloud_to_points(msg)
    np.testing.assert_array_equal(kept_xyz, xyz[finite])
    if rgb is not None:
        np.testing.assert_array_equal(kept_rgb, rgb[finite])
    for name, values in extras.items():
        np.testing.assert_array_equal(kept_extras[name], values[finite])


def test_cloud_layout_is_create_cloud_layout():
    """Lay fields, steps, flags and bytes out as create_cloud does."""
    xyz = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 0.0]])
    rgb = np.array([[255, 128, 1], [0, 0, 0]], np.uint8)
    msg = points_to_cloud(xyz, rgb, {'intensity': [0.5, 2.0], 'label': np.array([7, 8])})
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ('x', 0, PointField.FLOAT32, 1), ('y', 4, PointField.FLOAT32, 1),
        ('z', 8, PointField.FLOAT32, 1), ('rgb', 12, PointField.FLOAT32, 1),
        ('intensity', 16, PointField.FLOAT32, 1), ('label', 20, PointField.FLOAT32, 1)]
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 2, 24, 48)
    assert not msg.is_bigendian and not msg.is_dense
    first_point = struct.unpack('<3fI2f', msg.data[:24].tobytes())
    assert first_point == (1.0, 2.0, 3.0, 0x00FF8001, 0.5, 7.0)
    plain = points_to_cloud(np.zeros((3, 3), np.float64))
    assert [f.name for f in plain.fields] == ['x', 'y', 'z'] and plain.is_dense
    assert (plain.point_step, plain.row_step, len(plain.data)) == (12, 36, 36)


@pytest.mark.parametrize('xyz, rgb, extras, reason', [
    (np.zeros((2, 2)), None, None, r'xyz must have shape \(N, 3\)'),
    (np.zeros((2, 3)), np.zeros((3, 3), np.uint8), None, r'rgb must have shape \(2, 3\)'),
    (np.zeros((2, 3)), np.full((2, 3), 0.5), None, 'rgb must be uint8'),
    (np.zeros((2, 3)), np.full((2, 3), 256), None, 'rgb must be uint8'),
    (np.zeros((2, 3)), None, {'intensity': [1.0]}, r"'intensity' must have shape \(2,\)"),
    (np.zeros((2, 3)), None, {'x': [1.0, 2.0]}, "extra field name 'x'"),
    (np.zeros((2, 3)), None, {'rgb': [1.0, 2.0]}, "extra field name 'rgb'"),
    (np.array([['a', 'b', 'c']]), None, None, 'xyz must be real numbers'),
])
def test_points_to_cloud_validates_input(xyz, rgb, extras, reason):
    """Reject mis-shaped or mistyped points, colours and field names."""
    with pytest.raises(ConversionError, match=reason):
        points_to_cloud(xyz, rgb, extras)


def field(name, offset, datatype, count=1):
    """Return a PointField."""
    return PointField(name=name, offset=offset, datatype=datatype, count=count)


def test_reads_a_foreign_organised_big_endian_cloud():
    """Read reordered, padded, organised, big-endian float64 points."""
    # 2 rows x 3 points of 40 bytes, fields out of order with gaps, 4 bytes of row padding:
    # rgb UINT32 @0, 4 pad, z @8, y @16, x @24 FLOAT64, intensity UINT16 @34, 4 pad.
    point_format = '>I4xdddxxH4x'
    assert struct.calcsize(point_format) == 40
    xyz = np.arange(18, dtype=np.float64).reshape(6, 3) / 4
    xyz[4] = np.nan
    rgb = np.arange(18, dtype=np.uint8).reshape(6, 3) * 13
    intensity = np.arange(6) * 1000
    rows = []
    for row in range(2):  # building test data point by point is clearer than vectorised
        points = [struct.pack(point_format, (r << 16) | (g << 8) | b, z, y, x, i)
                  for (x, y, z), (r, g, b), i in zip(xyz[3 * row:3 * row + 3].tolist(),
                                                     rgb[3 * row:3 * row + 3].tolist(),
                                                     intensity[3 * row:3 * row + 3].tolist())]
        rows.append(b''.join(points) + b'\xab' * 4)
    msg = PointCloud2(
        height=2, width=3, is_bigendian=True, point_step=40, row_step=124, is_dense=False,
        fields=[field('rgb', 0, PointField.UINT32), field('z', 8, PointField.FLOAT64),
                field('y', 16, PointField.FLOAT64), field('x', 24, PointField.FLOAT64),
                field('intensity', 34, PointField.UINT16)],
        data=b''.join(rows))
    read_xyz, read_rgb, extras = cloud_to_points(msg, skip_nans=False)
    assert read_xyz.dtype == np.float32 and read_rgb.dtype == np.uint8
    np.testing.assert_array_equal(read_xyz, xyz.astype(np.float32))
    np.testing.assert_array_equal(read_rgb, rgb)
    assert list(extras) == ['intensity'] and extras['intensity'].dtype.isnative
    np.testing.assert_array_equal(extras['intensity'], intensity)
    kept_xyz, kept_rgb, kept_extras = cloud_to_points(msg)
    keep = [0, 1, 2, 3, 5]
    np.testing.assert_array_equal(kept_xyz, xyz[keep].astype(np.float32))
    np.testing.assert_array_equal(kept_rgb, rgb[keep])
    np.testing.assert_array_equal(kept_extras['intensity'], intensity[keep])


def test_reads_packed_float_rgba_and_every_datatype():
    """Read every PointField datatype, array fields and float rgba."""
    # One little-endian point: x INT8, y UINT16, z INT32, rgba as FLOAT32 bits of 0xAARRGGBB,
    # then an INT16, a UINT8, an array field of 3 FLOAT64 and a FLOAT32.
    rgba_bits = struct.unpack('<f', struct.pack('<I', 0x80112233))[0]
    data = struct.pack('<bxHifhB3dfx', -3, 500, -70000, rgba_bits, -2, 250, 1.0, 2.0, 3.0, 0.5)
    types = [('x', 'b', PointField.INT8), ('y', 'H', PointField.UINT16),
             ('z', 'i', PointField.INT32), ('rgba', 'f', PointField.FLOAT32),
             ('a', 'h', PointField.INT16), ('b', 'B', PointField.UINT8),
             ('c', '3d', PointField.FLOAT64), ('d', 'f', PointField.FLOAT32)]
    offsets = [0, 2, 4, 8, 12, 14, 15, 39]
    fields = [field(name, offset, datatype, 3 if name == 'c' else 1)
              for (name, _, datatype), offset in zip(types, offsets)]
    msg = PointCloud2(height=1, width=1, point_step=len(data), row_step=0, fields=fields,
                      data=data)
    xyz, rgb, extras = cloud_to_points(msg)
    np.testing.assert_array_equal(xyz, [[-3, 500, -70000]])
    np.testing.assert_array_equal(rgb, [[0x11, 0x22, 0x33]])
    assert {name: values.dtype for name, values in extras.items()} == {
        'a': np.int16, 'b': np.uint8, 'c': np.float64, 'd': np.float32}
    np.testing.assert_array_equal(extras['c'], [[1.0, 2.0, 3.0]])
    assert (extras['a'][0], extras['b'][0], extras['d'][0]) == (-2, 250, 0.5)


def xyz_cloud(**changes):
    """Return a valid 2-point xyz cloud with some of its attributes changed."""
    msg = points_to_cloud(np.ones((2, 3)))
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize('msg, reason', [
    (xyz_cloud(fields=[field('x', 0, 7), field('y', 4, 7)]), 'no z field'),
    (xyz_cloud(fields=[field('x', 0, 7), field('y', 4, 7), field('z', 8, 9)]),
     "'z' has unknown datatype 9"),
    (xyz_cloud(fields=[field('x', 0, 7), field('y', 4, 7), field('z', 10, 7)]),
     "'z' ends at byte 14, past point_step 12"),
    (xyz_cloud(fields=[field('x', 0, 7), field('y', 4, 7), field('z', 8, 7), field('y', 8, 7)]),
     'duplicate'),
    (xyz_cloud(fields=[field('x', 0, 7, 2), field('y', 4, 7), field('z', 8, 7)]), 'count 1'),
    (xyz_cloud(data=bytes(20)), 'data has 20 bytes'),
    (xyz_cloud(height=2, width=1, row_step=8), 'row_step 8 is shorter'),
    (xyz_cloud(fields=[field('x', 0, 7), field('y', 4, 7), field('z', 8, 7),
                       field('rgb', 8, PointField.UINT16)]), "'rgb' must be a packed"),
])
def test_cloud_to_points_rejects_malformed_clouds(msg, reason):
    """Reject clouds whose fields or sizes are inconsistent."""
    with pytest.raises(ConversionError, match=reason):
        cloud_to_points(msg)


def test_empty_cloud_round_trip():
    """Write and read a cloud without points."""
    xyz, rgb, extras = cloud_to_points(points_to_cloud(np.zeros((0, 3)), np.zeros((0, 3), int)))
    assert xyz.shape == (0, 3) and rgb.shape == (0, 3) and extras == {}


# --- agreement with sensor_msgs_py, cv_bridge and tf_transformations ----------------------------
# A ROS 2 distro provides them; `make` installs them from ../shared/ros2_python
# (test/ros_packages.py: skipped only when that folder is absent).

def test_layout_matches_sensor_msgs_py():
    """Produce the bytes sensor_msgs_py produces, and let it read ours."""
    point_cloud2 = ros_module('sensor_msgs_py.point_cloud2')
    xyz = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    rgb = np.random.default_rng(2).integers(0, 256, (50, 3), dtype=np.uint8)
    intensity = np.linspace(0, 1, 50, dtype=np.float32)
    ours = points_to_cloud(xyz, rgb, {'intensity': intensity}, Header(frame_id='map'))
    packed = ((rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8)
              | rgb[:, 2]).view(np.float32)
    reference = point_cloud2.create_cloud(
        Header(frame_id='map'), ours.fields,
        np.column_stack([xyz, packed, intensity]).tolist())
    assert ours.fields == reference.fields
    assert (ours.height, ours.width, ours.point_step, ours.row_step, ours.is_bigendian) == (
        reference.height, reference.width, reference.point_step, reference.row_step,
        reference.is_bigendian)
    assert bytes(ours.data) == bytes(reference.data)
    read = point_cloud2.read_points_numpy(ours, field_names=['x', 'y', 'z'])
    np.testing.assert_array_equal(read, xyz)


def copied_cloud(msg):
    """Return a copy of a cloud (sensor_msgs_py byte-swaps a big-endian cloud in place)."""
    return PointCloud2(header=msg.header, height=msg.height, width=msg.width, fields=msg.fields,
                       is_bigendian=msg.is_bigendian, point_step=msg.point_step,
                       row_step=msg.row_step, is_dense=msg.is_dense, data=bytes(msg.data))


@given(clouds(), st.booleans())
def test_reads_clouds_as_sensor_msgs_py_does(cloud, big_endian):
    """Read the points, colours and fields sensor_msgs_py reads from the same cloud.

    Skipping NaNs, a point goes only when its position is NaN: a valid point
    with a NaN intensity is still geometry. sensor_msgs_py drops a point with
    a NaN in any field it reads, so the reference skips on x, y, z alone.
    """
    point_cloud2 = ros_module('sensor_msgs_py.point_cloud2')
    xyz, rgb, extras = cloud
    msg = points_to_cloud(xyz, rgb, extras)
    if big_endian:  # the same cloud as a big-endian publisher sends it
        msg.is_bigendian = True
        msg.data = np.frombuffer(bytes(msg.data), '<f4').astype('>f4').tobytes()
    every_point = point_cloud2.read_points(copied_cloud(msg), skip_nans=False)
    valid_xyz = point_cloud2.read_points(copied_cloud(msg), field_names=('x', 'y', 'z'),
                                         skip_nans=True)
    position_is_nan = np.isnan(np.stack([every_point[name] for name in 'xyz'], axis=-1))
    for skip_nans in (False, True):
        reference = every_point[~position_is_nan.any(axis=1)] if skip_nans else every_point
        read_xyz, read_rgb, read_extras = cloud_to_points(copied_cloud(msg), skip_nans)
        expected_xyz = np.stack([reference[name] for name in 'xyz'], axis=-1)
        if skip_nans:
            np.testing.assert_array_equal(
                expected_xyz, np.stack([valid_xyz[name] for name in 'xyz'], axis=-1))
        np.testing.assert_array_equal(read_xyz, expected_xyz)
        if rgb is not None:
            bits = reference['rgb'].view(np.uint32)
            np.testing.assert_array_equal(read_rgb, np.stack(
                [(bits >> shift) & 0xFF for shift in (16, 8, 0)], axis=-1))
        for name in extras:
            np.testing.assert_array_equal(read_extras[name], reference[name])


def test_reads_an_organised_cloud_as_sensor_msgs_py_does():
    """Read an organised cloud row by row, as sensor_msgs_py does (no row padding)."""
    point_cloud2 = ros_module('sensor_msgs_py.point_cloud2')
    xyz = np.arange(36, dtype=np.float32).reshape(12, 3)
    msg = points_to_cloud(xyz)
    msg.height, msg.width, msg.row_step = 3, 4, 4 * msg.point_step
    reference = point_cloud2.read_points_numpy(msg, field_names=['x', 'y', 'z'])
    np.testing.assert_array_equal(cloud_to_points(msg)[0], reference)


def bridge_encoding(bridge, encoding):
    """Return the encoding to give cv_bridge's cv2_to_imgmsg for an image of ``encoding``.

    cv_bridge checks an explicit encoding against a table built from cv2's
    type constants, and looks the encoding up in its C++ extension. Where cv2
    and the OpenCV the extension was built with differ in major version (the
    venv's opencv-python 5 beside Debian's OpenCV 4.6: OpenCV 5 packs the
    channel count 5 bits up, OpenCV 4 3 bits), multi-channel types disagree and
    the check fails for reasons of its own; then the image goes as passthrough
    (same bytes, cv_bridge's type name) and only the encoding name differs.
    """
    from cv_bridge import getCvType
    dtype, channels = ENCODINGS[encoding]
    return encoding if bridge.cvtype_to_name.get(getCvType(encoding)) == \
        bridge.dtype_with_channels_to_cvtype2(dtype, channels) else 'passthrough'


def image_pixels(encoding, height=5, width=7):
    """Return a deterministic image of ``encoding``."""
    dtype, _ = ENCODINGS[encoding]
    pixels = (np.arange(np.prod(pixel_shape(encoding, height, width))) % 200).astype(dtype)
    return pixels.reshape(pixel_shape(encoding, height, width))


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_images_match_cv_bridge(encoding):
    """Produce the messages cv_bridge produces, and read padded ones as it does."""
    bridge = ros_module('cv_bridge').CvBridge()
    pixels = image_pixels(encoding)
    as_encoding = bridge_encoding(bridge, encoding)
    ours = array_to_image(pixels, encoding)
    reference = bridge.cv2_to_imgmsg(pixels, as_encoding)
    assert (ours.height, ours.width, ours.step, ours.is_bigendian) == (
        reference.height, reference.width, reference.step, reference.is_bigendian)
    assert bytes(ours.data) == bytes(reference.data)
    if as_encoding == encoding:
        assert reference.encoding == encoding
    # Padding of whole pixels: cv_bridge reads rows of step / pixel size pixels.
    padded = foreign_image(pixels, encoding, padding=3 * pixels.itemsize * pixels[0, 0].size)
    np.testing.assert_array_equal(image_to_array(padded), bridge.imgmsg_to_cv2(padded))


@pytest.mark.parametrize('encoding', COLOUR_ENCODINGS + ('mono8',))
def test_rgb8_matches_cv_bridge(encoding):
    """Give the rgb8 pixels cv_bridge's colour conversion gives, for every colour encoding."""
    bridge = ros_module('cv_bridge').CvBridge()
    msg = foreign_image(image_pixels(encoding, 48, 64), encoding)
    np.testing.assert_array_equal(image_to_rgb8(msg), bridge.imgmsg_to_cv2(msg, 'rgb8'))


@pytest.mark.parametrize('encoding', COLOUR_ENCODINGS + ('mono8',))
def test_rgb8_by_numpy_and_by_cv_bridge_agree(encoding, monkeypatch):
    """Give the same pixels whichever converts; cv_bridge where it is the faster one."""
    ros_module('cv_bridge')
    pixels = image_pixels(encoding, 48, 64)
    msg, padded = foreign_image(pixels, encoding), foreign_image(pixels, encoding, padding=5)
    expected = numpy_rgb8(msg)
    assert expected.flags.c_contiguous and expected.shape == (48, 64, 3)
    np.testing.assert_array_equal(numpy_rgb8(padded), expected)
    np.testing.assert_array_equal(cv_bridge_rgb8(msg), expected)
    with pytest.raises(ConversionError, match='unpadded rows'):
        cv_bridge_rgb8(padded)
    # image_to_rgb8 takes cv_bridge for unpadded images of CV_BRIDGE_RGB8_ENCODINGS.
    used = []
    monkeypatch.setattr(image_module, 'cv_bridge_rgb8',
                        lambda msg: used.append(msg) or cv_bridge_rgb8(msg))
    for message in (msg, padded):
        np.testing.assert_array_equal(image_to_rgb8(message), expected)
    assert used == ([msg] if encoding in CV_BRIDGE_RGB8_ENCODINGS else [])
    # Without cv_bridge, numpy converts everything.
    used.clear()
    monkeypatch.setattr(image_module, 'cv_bridge', lambda: None)
    np.testing.assert_array_equal(image_to_rgb8(msg), expected)
    assert not used


def test_cv_bridge_rgb8_checks_the_message_first():
    """Refuse what image_to_array refuses before cv_bridge sees it."""
    ros_module('cv_bridge')
    with pytest.raises(ConversionError, match='data has 17 bytes'):
        cv_bridge_rgb8(Image(height=2, width=3, encoding='bgr8', step=9, data=bytes(17)))
    with pytest.raises(ConversionError, match="'16UC1' image to rgb8"):
        cv_bridge_rgb8(array_to_image(np.zeros((2, 2), np.uint16), '16UC1'))


@pytest.mark.parametrize('encoding', ['16UC1', 'mono16', '32FC1'])
def test_depth_matches_cv_bridge(encoding):
    """Read the depth values cv_bridge reads, in metres, invalid ones NaN."""
    bridge = ros_module('cv_bridge').CvBridge()
    pixels = image_pixels(encoding, 48, 64)
    pixels.reshape(-1)[:4] = [0, 0, 0, 0] if encoding != '32FC1' else [0, np.nan, np.inf, -1]
    if encoding != '32FC1':
        pixels.reshape(-1)[4] = 65535
    msg = array_to_image(pixels, encoding)
    reference = bridge.imgmsg_to_cv2(msg).astype(np.float32)
    scale = np.float32(1000.0) if encoding != '32FC1' else np.float32(1.0)
    invalid = (reference <= 0) | ~np.isfinite(reference) | (
        (reference == 65535) if encoding != '32FC1' else False)
    expected = np.where(invalid, np.nan, reference / scale)
    np.testing.assert_array_equal(depth_to_metres(msg), expected)


@given(rigid_transforms)
def test_poses_match_tf_transformations(transform):
    """Read and write poses as tf_transformations does (x, y, z, w quaternions)."""
    tft = ros_module('tf_transformations')
    pose = matrix_to_pose(transform)
    q = [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w]
    reference = tft.concatenate_matrices(
        tft.translation_matrix([pose.position.x, pose.position.y, pose.position.z]),
        tft.quaternion_matrix(q))
    np.testing.assert_allclose(pose_to_matrix(pose), reference, atol=1e-12)
    np.testing.assert_allclose(transform_to_matrix(matrix_to_transform_stamped(
        transform, 'world', 'camera')), reference, atol=1e-12)
    # The quaternion tf_transformations finds in the matrix, up to sign.
    expected = np.asarray(tft.quaternion_from_matrix(transform))
    assert np.allclose(q, expected, atol=1e-9) or np.allclose(q, -expected, atol=1e-9)
    np.testing.assert_allclose([pose.position.x, pose.position.y, pose.position.z],
                               tft.translation_from_matrix(transform), atol=0)


def test_quaternion_order_matches_tf_transformations():
    """A quarter turn about z is (0, 0, sin 45, cos 45) in both."""
    tft = ros_module('tf_transformations')
    q = tft.quaternion_from_euler(0.0, 0.0, math.pi / 2)
    np.testing.assert_allclose(q, [0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-12)
    pose = Pose(orientation=Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]))
    np.testing.assert_allclose(pose_to_matrix(pose), tft.euler_matrix(0.0, 0.0, math.pi / 2),
                               atol=1e-12)
