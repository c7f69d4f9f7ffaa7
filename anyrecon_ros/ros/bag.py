# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Capture views from a rosbag2 (mcap or sqlite3), paired by stamp as memory_node pairs them.

Bags are read with rosbags (no ROS distro needed); the messages are converted
with the same functions the nodes use, so a bag and a live stream give the
same keyframes. Poses come from a PoseStamped or an Odometry topic.

A message that cannot be used (a bad quaternion, encoding or size) is
dropped and counted by reason, as the nodes drop it; a bag that cannot be
read (truncated, or a topic of the wrong type) raises ValueError saying so.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.highlevel import AnyReaderError
from rosbags.rosbag2 import ReaderError
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

from anyrecon_ros.core.stamp_pairing import PairingConfig
from anyrecon_ros.core.stamp_pairing import StampPairer
from anyrecon_ros.ros.conversions import ConversionError
from anyrecon_ros.ros.conversions import InvalidKeyframe
from anyrecon_ros.ros.conversions.frame import frame_to_view
from anyrecon_ros.ros.conversions.pose import odometry_to_matrix
from anyrecon_ros.ros.conversions.pose import pose_stamped_to_matrix

POSE_TYPES = ('geometry_msgs/msg/PoseStamped', 'nav_msgs/msg/Odometry')
# The message types each part of a frame must have.
PART_TYPES = {'image': ('sensor_msgs/msg/Image',), 'depth': ('sensor_msgs/msg/Image',),
              'camera_info': ('sensor_msgs/msg/CameraInfo',), 'pose': POSE_TYPES}
# What rosbags raises for a bag it cannot read (truncated, damaged, unknown storage).
BAG_READ_ERRORS = (AnyReaderError, ReaderError, EOFError, OSError, KeyError, IndexError)


@dataclass
class BagTopics:
    """Topics of a bag the offline command reads."""

    image: str = '/image'
    camera_info: str = '/camera_info'
    depth: str = ''        # '' = no depth topic: depth is estimated by stereo
    pose: str = '/pose'    # geometry_msgs/PoseStamped or nav_msgs/Odometry


def bag_frames(path, topics: BagTopics = BagTopics(), slop: float = PairingConfig().slop,
               max_frames: int = 0, counts: Counter = None, drops: Counter = None):
    """Yield capture views paired from a rosbag2 (mcap or sqlite3) by stamp.

    ``counts`` (a Counter), when given, receives the messages read per topic;
    ``drops`` the messages and frames dropped, per reason.
    """
    counts = Counter() if counts is None else counts
    drops = Counter() if drops is None else drops
    parts = ('image', 'camera_info') + (('depth',) if topics.depth else ())
    pairer = StampPairer(parts, slop=slop, queue_size=100,
                         part_slop=min(slop, PairingConfig().part_slop),
                         on_drop=lambda reason, stamp_ns: drops.update([reason]))
    named = [(topics.image, 'image'), (topics.camera_info, 'camera_info'),
             (topics.pose, 'pose')] + ([(topics.depth, 'depth')] if topics.depth else [])
    wanted = dict(named)
    if len(wanted) < len(named):
        raise ValueError('each part of a frame needs a topic of its own, got '
                         + ', '.join(f'{part} {topic}' for topic, part in named))
    produced = 0
    try:
        with AnyReader([Path(path)],
                       default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
            _check_topics(path, reader.connections, wanted)
            connections = [c for c in reader.connections if c.topic in wanted]
            for connection, _, raw in reader.messages(connections=connections):
                counts[connection.topic] += 1
                for view in _paired(reader, connection, raw, wanted, pairer, produced, drops):
                    yield view
                    produced += 1
                    if max_frames and produced >= max_frames:
                        return
    except BAG_READ_ERRORS as error:
        raise ValueError(f'bag {path} cannot be read ({type(error).__name__}: {error}); it may '
                         'be truncated or damaged') from None


def _paired(reader, connection, raw, wanted, pairer, next_id, drops) -> list:
    """Return the capture views one bag message completes; a bad message is counted."""
    part = wanted[connection.topic]
    try:
        msg = reader.deserialize(raw, connection.msgtype)
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if part == 'pose':
            to_matrix = (odometry_to_matrix if connection.msgtype.endswith('Odometry')
                         else pose_stamped_to_matrix)
            ready = pairer.add_pose(stamp_ns, to_matrix(msg))
        else:
            ready = pairer.add_part(part, stamp_ns, msg)
    except (ConversionError, ValueError):
        drops['bad_pose' if part == 'pose' else f'bad_{part}'] += 1
        return []
    views = []
    for frame in ready:
        try:
            views.append(frame_to_view(frame.parts, frame.camera_to_world, frame.stamp_ns,
                                       next_id + len(views)))
        except InvalidKeyframe as error:
            drops[error.reason] += 1
    return views


def _check_topics(path, connections, wanted):
    present = {c.topic: c.msgtype for c in connections}
    missing = [topic for topic in wanted if topic not in present]
    if missing:
        listing = ', '.join(f'{topic} ({kind})' for topic, kind in sorted(present.items()))
        raise ValueError(f'bag {path} has no topic {", ".join(missing)}; it has {listing}')
    for topic, part in wanted.items():
        if present[topic] not in PART_TYPES[part]:
            raise ValueError(f'{part} topic {topic} of bag {path} is {present[topic]}; expected '
                             + ' or '.join(PART_TYPES[part]))
