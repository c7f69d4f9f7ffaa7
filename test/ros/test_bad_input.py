# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Random and adversarial messages, through real DDS, into running nodes (hypothesis).

Each example is a barrage of bad messages; after it the node must be alive,
have counted every bad message under the reason it names, and still fuse a
valid keyframe sent next. Examples are derandomised, so CI always tries the
same cases; ``BAD_MESSAGES_SENT`` counts them for the README.
"""

import itertools
import math
import string

from geometry_msgs.msg import PoseStamped
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings
from hypothesis import strategies as st
from nav_msgs.msg import Path
import numpy as np
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from test_generator_node import generator_pose
from test_generator_node import wired_generator_node
from test_memory_node import corrupted
from test_memory_node import memory_node_here
from test_memory_node import stamp

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.view_bank import GeneratedFrame
from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.conversions.generated_view import generated_frame_to_msg
from anyrecon_ros.ros.conversions.image import ENCODINGS
from anyrecon_ros.ros.conversions.path import poses_to_path
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import sensor_qos

CAMERA = default_camera().scaled(64, 48)
# Printable names: a NUL byte cannot travel in a ROS string at all.
NAMES = st.text(alphabet=string.printable, max_size=12)
EXAMPLES = 60
# No shrinking: each failing try waits for a timeout, so shrinking would take
# many minutes; the failing barrage is printed as it is.
HYPOTHESIS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=[HealthCheck.too_slow])
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
BAD_FOCAL = st.sampled_from([0.0, -1.0, -500.0, math.nan, math.inf])
# Every bad message of every test, for the README's figure.
BAD_MESSAGES_SENT = []


def _unit_length_is_off(q) -> bool:
    norm = math.hypot(*q)
    return not (math.isfinite(norm) and abs(norm * norm - 1.0) <= 0.01)


BAD_QUATERNION = st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=4,
                          max_size=4).filter(_unit_length_is_off)
UNSUPPORTED_ENCODING = NAMES.filter(lambda text: text not in ENCODINGS)


def _quaternion_changes(q) -> dict:
    return {f'pose__orientation__{axis}': value for axis, value in zip('xyzw', q)}


# One way to break a keyframe each: the changes and the reason the node must count.
KEYFRAME_BREAKS = st.one_of(
    st.tuples(st.sampled_from('xyz'), NON_FINITE).map(
        lambda bad: ('bad_pose', {f'pose__position__{bad[0]}': bad[1]})),
    BAD_QUATERNION.map(lambda q: ('bad_pose', _quaternion_changes(q))),
    UNSUPPORTED_ENCODING.map(lambda text: ('bad_image', {'image__encoding': text})),
    st.integers(0, CAMERA.width * 3 - 1).map(lambda step: ('bad_image', {'image__step': step})),
    st.integers(0, 200).filter(lambda n: n != CAMERA.width * 3 * CAMERA.height).map(
        lambda size: ('bad_image', {'image__data': bytes(size)})),
    st.just(('bad_image', {'image__width': 0, 'image__height': 0, 'image__step': 0,
                           'image__data': b''})),
    st.just(('bad_image', {'image__width': 100_000, 'image__height': 100_000,
                           'image__step': 300_000})),
    st.tuples(st.sampled_from([0, 4]), BAD_FOCAL).map(
        lambda bad: ('bad_camera_info', {'camera_info__k': _intrinsics(bad[0], bad[1])})),
    st.just(('size_mismatch', {'camera_info__width': CAMERA.width + 8})),
    NAMES.filter(lambda text: text != 'map').map(
        lambda text: ('unknown_frame', {'header__frame_id': text})),
    st.integers(0, 100).map(lambda size: ('bad_depth', {'depth__data': bytes(size)})),
    st.just(('bad_depth', {'depth__encoding': 'rgb8'})),
)


def _intrinsics(index: int, value: float) -> np.ndarray:
    k = CAMERA.K.reshape(-1).astype(float)
    k[index] = value
    return k


class Keyframes:
    """Valid keyframes of a small procedural scene, each with a new id."""

    def __init__(self):
        self.scene = ProceduralScene(seed=5)
        self.poses = self.scene.camera_path(12)
        self.ids = itertools.count()

    def make(self) -> Keyframe:
        view_id = next(self.ids)
        pose = self.poses[view_id % len(self.poses)]
        return view_to_keyframe(self.scene.capture_view(CAMERA, pose, view_id), 'map')


def test_memory_node_counts_every_bad_keyframe_and_keeps_fusing(ros):
    node = memory_node_here(ros, voxel_size=0.1)
    talker = ros.node('talker')
    publisher = talker.create_publisher(Keyframe, 'keyframe', keyframe_qos(100))
    source = Keyframes()
    assert ros.spin_until(lambda: publisher.get_subscription_count() > 0, timeout=30)

    @HYPOTHESIS
    @given(breaks=st.lists(KEYFRAME_BREAKS, min_size=1, max_size=5))
    def barrage(breaks):
        before = dict(node.drops.items())
        expected = dict(before)
        for reason, changes in breaks:
            publisher.publish(corrupted(source.make(), **changes))
            expected[reason] = expected.get(reason, 0) + 1
        BAD_MESSAGES_SENT.extend(reason for reason, _ in breaks)
        valid = source.make()
        publisher.publish(valid)
        # One reliable publisher: the valid keyframe comes after every bad one.
        assert ros.spin_until(lambda: valid.id in node.session.bank, timeout=20), \
            f'the node stopped fusing after {breaks}'
        assert dict(node.drops.items()) == expected

    barrage()
    # A keyframe with an id already fused is refused too.
    fused = min(view.view_id for view in node.session.bank.views())
    publisher.publish(corrupted(source.make(), id=fused))
    assert ros.spin_until(lambda: node.drops['duplicate_id'] == 1, timeout=20)


@st.composite
def camera_parts(draw):
    """Return one random image, camera_info, depth or pose message and its topic."""
    header = Header(stamp=stamp(draw(st.integers(0, 10 ** 12))),
                    frame_id=draw(st.sampled_from(['camera_optical', 'map', '', 'odom'])))
    kind = draw(st.sampled_from(['image', 'depth', 'camera_info', 'pose']))
    if kind == 'pose':
        msg = PoseStamped(header=header)
        position = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=3,
                                 max_size=3))
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position
        (msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z,
         msg.pose.orientation.w) = draw(BAD_QUATERNION)
        return 'pose', msg
    if kind == 'camera_info':
        msg = CameraInfo(header=header, width=draw(st.integers(0, 64)),
                         height=draw(st.integers(0, 48)))
        msg.k = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=9,
                              max_size=9))
        return 'camera_info', msg
    width, height = draw(st.integers(0, 40)), draw(st.integers(0, 30))
    encoding = draw(st.sampled_from(sorted(ENCODINGS) + ['yuv422', 'bayer_rggb8', '']))
    step = draw(st.integers(0, 200))
    data = draw(st.binary(max_size=2000))
    msg = Image(header=header, width=width, height=height, encoding=encoding, step=step,
                data=data)
    if kind == 'depth' and draw(st.booleans()):
        # A well-formed 32FC1 depth full of NaN, negative and infinite values.
        values = draw(st.lists(st.sampled_from([math.nan, -1.0, math.inf, 0.0, 65535.0]),
                               min_size=width * height, max_size=width * height))
        msg.encoding, msg.step = '32FC1', width * 4
        msg.data = np.asarray(values, np.float32).tobytes()
    return kind, msg


def test_memory_node_survives_random_camera_streams(ros):
    node = memory_node_here(ros, voxel_size=0.1, slop=0.05, frame_queue_size=5)
    talker = ros.node('rig')
    qos = sensor_qos(reliable=True, depth=100)
    publishers = {'image': talker.create_publisher(Image, 'image', qos),
                  'depth': talker.create_publisher(Image, 'depth', qos),
                  'camera_info': talker.create_publisher(CameraInfo, 'camera_info', qos),
                  'pose': talker.create_publisher(PoseStamped, 'pose', qos)}
    keyframes = talker.create_publisher(Keyframe, 'keyframe', keyframe_qos())
    source = Keyframes()
    assert ros.spin_until(lambda: all(p.get_subscription_count() for p in publishers.values())
                          and keyframes.get_subscription_count(), timeout=30)

    @HYPOTHESIS
    @given(parts=st.lists(camera_parts(), min_size=1, max_size=12))
    def barrage(parts):
        for topic, msg in parts:
            publishers[topic].publish(msg)
        BAD_MESSAGES_SENT.extend(topic for topic, _ in parts)
        valid = source.make()
        keyframes.publish(valid)
        assert ros.spin_until(lambda: valid.id in node.session.bank, timeout=20), \
            f'the node stopped fusing after {parts}'

    barrage()
    # Nothing random became a keyframe: every fused keyframe is one of ours.
    assert {view.view_id for view in node.session.bank.views()} <= set(range(next(source.ids)))
    # The pairing queue stayed bounded, and what the stream got wrong was counted.
    assert len(list(node.pairer.waiting())) <= 5
    print('camera stream drops:', dict(node.drops.items()))
    assert sum(count for _, count in node.drops.items()) > 0


def _path_breaks():
    """Return a strategy of broken paths (poses in 'map'), each with what breaks it."""
    good = np.stack([np.eye(4)] * 3)
    good[:, 0, 3] = [0.0, 0.5, 1.0]

    def with_pose(change):
        def build(value):
            msg = poses_to_path(good, 'map')
            change(msg.poses[1].pose, value)
            return msg
        return build

    def set_position(pose, bad):
        setattr(pose.position, bad[0], bad[1])

    def set_orientation(pose, q):
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = q

    return st.one_of(
        st.just(Path(header=Header(frame_id='map'))).map(lambda msg: ('empty_trajectory', msg)),
        st.tuples(st.sampled_from('xyz'), NON_FINITE).map(with_pose(set_position)).map(
            lambda msg: ('bad_trajectory', msg)),
        BAD_QUATERNION.map(with_pose(set_orientation)).map(lambda msg: ('bad_trajectory', msg)),
        NAMES.filter(lambda text: text != 'map').map(
            lambda text: ('bad_trajectory', poses_to_path(good, text) if text else
                          Path(header=Header(frame_id='')))),
    )


def test_generator_node_counts_bad_paths_and_keyframes_and_still_generates(ros):
    generator, keyframe_pub, path_pub, generated, _ = wired_generator_node(ros)
    source = Keyframes()
    assert ros.spin_until(lambda: keyframe_pub.get_subscription_count() > 0
                          and path_pub.get_subscription_count() > 0, timeout=30)
    first = source.make()
    keyframe_pub.publish(first)
    assert ros.spin_until(lambda: len(generator.session.bank) == 1, timeout=20)

    # One path per barrage: the trajectory topic keeps only the newest path
    # (keep-last 1, latched), so a path sent right after another may replace it
    # in the publisher's history before delivery, as it should.
    @HYPOTHESIS
    @given(path=_path_breaks(), breaks=st.lists(KEYFRAME_BREAKS, min_size=0, max_size=3))
    def barrage(path, breaks):
        expected = dict(generator.drops.items())
        path_pub.publish(path[1])
        expected[path[0]] = expected.get(path[0], 0) + 1
        for reason, changes in breaks:
            keyframe_pub.publish(corrupted(source.make(), **changes))
            expected[reason] = expected.get(reason, 0) + 1
        BAD_MESSAGES_SENT.extend([path[0]] + [reason for reason, _ in breaks])
        valid = source.make()
        keyframe_pub.publish(valid)
        assert ros.spin_until(lambda: valid.id in generator.session.bank
                              and dict(generator.drops.items()) == expected, timeout=20), \
            (dict(generator.drops.items()), expected)
        assert not generated

    barrage()
    # Still generating: a valid path after all that.
    path_pub.publish(poses_to_path(np.stack([generator_pose(first)] * 2), 'map'))
    assert ros.spin_until(lambda: len(generated) == 2, timeout=60)


def test_generated_views_naming_unknown_keyframes_are_counted(ros):
    node = memory_node_here(ros, voxel_size=0.1)
    talker = ros.node('talker')
    keyframes = talker.create_publisher(Keyframe, 'keyframe', keyframe_qos())
    views = talker.create_publisher(GeneratedView, 'generated', keyframe_qos(100))
    source = Keyframes()
    assert ros.spin_until(lambda: keyframes.get_subscription_count()
                          and views.get_subscription_count(), timeout=30)
    keyframe = source.make()
    keyframes.publish(keyframe)
    assert ros.spin_until(lambda: keyframe.id in node.session.bank, timeout=20)
    view = source.scene.capture_view(CAMERA, source.poses[1], 0)

    @HYPOTHESIS
    @given(ids=st.lists(st.integers(0, 2 ** 32 - 1), min_size=1, max_size=4).filter(
        lambda ids: set(ids) != {keyframe.id}))
    def barrage(ids):
        before = node.drops['unknown_reference']
        msg = generated_frame_to_msg(_generated(view), 'map')
        msg.reference_keyframe_ids = ids
        views.publish(msg)
        BAD_MESSAGES_SENT.append('unknown_reference')
        assert ros.spin_until(lambda: node.drops['unknown_reference'] == before + 1,
                              timeout=20)

    barrage()
    assert node.session.generated_views_fused == 0
    # A view of known keyframes is still fused.
    msg = generated_frame_to_msg(_generated(view), 'map')
    msg.reference_keyframe_ids = [keyframe.id]
    views.publish(msg)
    assert ros.spin_until(lambda: node.session.generated_views_fused == 1, timeout=20)
    print(f'bad-input tests sent {len(BAD_MESSAGES_SENT)} bad messages so far')


def _generated(view):
    return GeneratedFrame(segment_id=1, index=0, rgb=view.rgb,
                          mask=np.zeros(view.rgb.shape[:2], bool), camera=view.camera,
                          camera_to_world=view.camera_to_world, reference_ids=(0,),
                          depth=view.depth)
