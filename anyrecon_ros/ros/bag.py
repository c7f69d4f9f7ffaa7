# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Capture views from a rosbag2 (mcap or sqlite3), paired by stamp as memory_node pairs them.

Bags are read with rosbags (no ROS distro needed); the messages are converted
with the same functions the nodes use, so a bag and a live stream give the
same keyframes. Poses come from a PoseStamped or an Odometry topic.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

from anyrecon_ros.core.stamp_pairing import DEFAULT_PART_SLOP
from anyrecon_ros.core.stamp_pairing import StampPairer
from anyrecon_ros.ros.conversions.frame import frame_to_view
from anyrecon_ros.ros.conversions.pose import odometry_to_matrix
from anyrecon_ros.ros.conversions.pose import pose_stamped_to_matrix

POSE_TYPES = ('geometry_msgs/msg/PoseStamped', 'nav_msgs/msg/Odometry')


@dataclass
class BagTopics:
    """Topics of a bag the offline command reads."""

    image: str = '/image'
    camera_info: str = '/camera_info'
    depth: str = ''        # '' = no depth topic: depth is estimated by stereo
    pose: str = '/pose'    # geometry_msgs/PoseStamped or nav_msgs/Odometry


def bag_frames(path, topics: BagTopics = BagTopics(), slop: float = 0.05, max_frames: int = 0,
               counts: Counter = None):
    """Yield capture views paired from a rosbag2 (mcap or sqlite3) by stamp.

    ``counts`` (a Counter), when given, receives the messages read per topic.
    """
    counts = Counter() if counts is None else counts
    parts = ('image', 'camera_info') + (('depth',) if topics.depth else ())
    pairer = StampPairer(parts, slop=slop, queue_size=100,
                         part_slop=min(slop, DEFAULT_PART_SLOP))
    wanted = {topics.image: 'image', topics.camera_info: 'camera_info', topics.pose: 'pose'}
    if topics.depth:
        wanted[topics.depth] = 'depth'
    produced = 0
    with AnyReader([Path(path)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        _check_topics(path, reader.connections, wanted)
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            counts[connection.topic] += 1
            part = wanted[connection.topic]
            stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            if part == 'pose':
                to_matrix = (odometry_to_matrix if connection.msgtype.endswith('Odometry')
                             else pose_stamped_to_matrix)
                ready = pairer.add_pose(stamp_ns, to_matrix(msg))
            else:
                ready = pairer.add_part(part, stamp_ns, msg)
            for frame in ready:
                yield frame_to_view(frame.parts, frame.camera_to_world, frame.stamp_ns, produced)
                produced += 1
                if max_frames and produced >= max_frames:
                    return


def _check_topics(path, connections, wanted):
    present = {c.topic: c.msgtype for c in connections}
    missing = [topic for topic in wanted if topic not in present]
    if missing:
        listing = ', '.join(f'{topic} ({kind})' for topic, kind in sorted(present.items()))
        raise ValueError(f'bag {path} has no topic {", ".join(missing)}; it has {listing}')
    pose_topic = next(topic for topic, part in wanted.items() if part == 'pose')
    if present[pose_topic] not in POSE_TYPES:
        raise ValueError(f'pose topic {pose_topic} is {present[pose_topic]}; expected one of '
                         + ', '.join(POSE_TYPES))
