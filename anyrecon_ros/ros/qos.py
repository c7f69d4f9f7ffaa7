# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""QoS profiles shared by the nodes, so publishers and subscribers always match."""

from rclpy.qos import DurabilityPolicy
from rclpy.qos import HistoryPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy


def keyframe_qos(depth: int = 10) -> QoSProfile:
    """Keyframes are few and each one matters: reliable, keep the last ``depth``."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def status_qos() -> QoSProfile:
    """Status is periodic; a late joiner gets the latest one at once."""
    return latched_qos()


def latched_qos() -> QoSProfile:
    """Return the QoS of the memory cloud and trajectories: reliable, latched for RViz."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def sensor_qos(reliable: bool = False, depth: int = 5) -> QoSProfile:
    """Return the QoS of camera streams: best effort like most drivers, or ``reliable``."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)
