# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""GeneratedView <-> GeneratedFrame, and camera frustum markers, also through DDS."""

import copy

import numpy as np
import pytest
from visualization_msgs.msg import Marker
from visualization_msgs.msg import MarkerArray

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.core.view_bank import GeneratedFrame
from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.ros.conversions import array_to_image
from anyrecon_ros.ros.conversions import InvalidKeyframe
from anyrecon_ros.ros.conversions.generated_view import generated_frame_to_msg
from anyrecon_ros.ros.conversions.generated_view import generated_view_to_frame
from anyrecon_ros.ros.conversions.generated_view import InvalidGeneratedView
from anyrecon_ros.ros.conversions.markers import CAPTURED_NAMESPACE
from anyrecon_ros.ros.conversions.markers import delete_all_markers
from anyrecon_ros.ros.conversions.markers import frustum_corners
from anyrecon_ros.ros.conversions.markers import frustum_markers
from anyrecon_ros.ros.conversions.markers import GENERATED_NAMESPACE
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import latched_qos

CAMERA = PinholeCamera(width=32, height=24, fx=30.0, fy=30.0, cx=15.5, cy=11.5)


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 4.0, (24, 32)).astype(np.float32)
    depth[0, :5] = np.nan
    return GeneratedFrame(segment_id=7, index=3,
                          rgb=rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
                          mask=rng.random((24, 32)) > 0.5, camera=CAMERA,
                          camera_to_world=look_at((1.0, 2.0, 1.5), (3.0, 2.0, 1.0)),
                          reference_ids=(4, 9), depth=depth)


def assert_same_frame(back, frame):
    assert (back.segment_id, back.index, back.reference_ids) == (
        frame.segment_id, frame.index, frame.reference_ids)
    assert np.array_equal(back.rgb, frame.rgb) and np.array_equal(back.mask, frame.mask)
    assert back.camera == frame.camera
    assert np.allclose(back.camera_to_world, frame.camera_to_world, atol=1e-12)
    if frame.depth is None:
        assert back.depth is None
    else:
        assert np.array_equal(back.depth, frame.depth, equal_nan=True)


def test_round_trip_keeps_everything(frame):
    msg = generated_frame_to_msg(frame, 'map')
    assert msg.header.frame_id == 'map' and msg.has_depth
    assert (msg.image.encoding, msg.mask.encoding, msg.depth.encoding) == (
        'rgb8', 'mono8', '32FC1')
    assert set(np.unique(np.asarray(msg.mask.data))) <= {0, 255}
    assert_same_frame(generated_view_to_frame(msg), frame)


def test_without_depth_the_depth_is_left_empty(frame):
    frame.depth = None
    msg = generated_frame_to_msg(frame, 'map')
    assert not msg.has_depth and msg.depth.width == 0
    assert generated_view_to_frame(msg).depth is None


def test_millimetre_depth_is_accepted(frame):
    msg = generated_frame_to_msg(frame, 'map')
    millimetres = np.nan_to_num(frame.depth * 1000.0).round().astype(np.uint16)
    msg.depth = array_to_image(millimetres, '16UC1')
    back = generated_view_to_frame(msg)
    assert np.allclose(back.depth, frame.depth, atol=5e-4, equal_nan=True)


def changed(msg, path, value):
    msg = copy.deepcopy(msg)
    *parents, leaf = path.split('.')
    target = msg
    for parent in parents:
        target = getattr(target, parent)
    setattr(target, leaf, value)
    return msg


@pytest.mark.parametrize('path, value, reason', [
    ('image.encoding', 'yuv422', 'bad_image'),
    ('mask.encoding', 'rgb8', 'bad_mask'),
    ('depth.encoding', 'rgb8', 'bad_depth'),
    ('camera_info.k', np.zeros(9), 'bad_camera_info'),
    ('pose.orientation.w', 0.0, 'bad_pose'),
    ('pose.position.x', float('nan'), 'bad_pose'),
])
def test_bad_fields_raise_with_a_reason(frame, path, value, reason):
    msg = generated_frame_to_msg(frame, 'map')
    if path == 'pose.orientation.w':
        msg.pose.orientation.x = msg.pose.orientation.y = msg.pose.orientation.z = 0.0
    with pytest.raises(InvalidGeneratedView) as raised:
        generated_view_to_frame(changed(msg, path, value))
    assert raised.value.reason == reason and str(raised.value)
    assert isinstance(raised.value, InvalidKeyframe)  # one except clause handles both


def test_sizes_must_agree(frame):
    msg = generated_frame_to_msg(frame, 'map')
    msg.mask = array_to_image(np.zeros((12, 16), np.uint8), 'mono8')
    with pytest.raises(InvalidGeneratedView, match='mask is 16x12') as raised:
        generated_view_to_frame(msg)
    assert raised.value.reason == 'size_mismatch'


def test_frustum_corners_lie_on_the_image_corners_rays():
    pose = look_at((0.0, 0.0, 1.0), (1.0, 0.0, 1.0))
    corners = frustum_corners(CAMERA, pose, depth=0.5)
    assert np.allclose(corners[0], [0.0, 0.0, 1.0])
    # The camera looks along +x: every corner is 0.5 m ahead, and they are symmetric.
    assert np.allclose(corners[1:, 0], 0.5)
    half_width = 0.5 * (CAMERA.width / 2) / CAMERA.fx
    assert np.allclose(sorted(np.abs(corners[1:, 1])), [half_width] * 4)


def test_generated_views_and_markers_cross_dds(ros, frame):
    node = ros.node('generated_view_test')
    views = ros.collect(GeneratedView, 'generated_test', keyframe_qos(), node)
    markers = ros.collect(MarkerArray, 'markers_test', latched_qos(), node)
    view_pub = node.create_publisher(GeneratedView, 'generated_test', keyframe_qos())
    marker_pub = node.create_publisher(MarkerArray, 'markers_test', latched_qos())
    assert ros.spin_until(lambda: view_pub.get_subscription_count() > 0)

    view_pub.publish(generated_frame_to_msg(frame, 'map'))
    keyframe = CaptureView(view_id=12, rgb=frame.rgb, camera=CAMERA,
                           camera_to_world=np.eye(4))
    array = delete_all_markers('map')
    array.markers += frustum_markers([keyframe], [frame], 'map').markers
    marker_pub.publish(array)
    assert ros.spin_until(lambda: views and markers)

    assert_same_frame(generated_view_to_frame(views[0]), frame)
    received = markers[0].markers
    assert [m.action for m in received] == [Marker.DELETEALL, Marker.ADD, Marker.ADD]
    assert [(m.ns, m.id, m.type) for m in received[1:]] == [
        (CAPTURED_NAMESPACE, 12, Marker.LINE_LIST), (GENERATED_NAMESPACE, 0, Marker.LINE_LIST)]
    assert received[1].color != received[2].color
    # Eight edges, two points each, the first from the optical centre.
    generated_points = np.array([[p.x, p.y, p.z] for p in received[2].points])
    assert generated_points.shape == (16, 3)
    assert np.allclose(generated_points[0], frame.camera_to_world[:3, 3])
    assert np.allclose(generated_points[:8:2], frame.camera_to_world[:3, 3])
