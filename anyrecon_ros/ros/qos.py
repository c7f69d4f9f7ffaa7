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


def lossless_qos() -> QoSProfile:
    """Return the QoS of keyframes and generated views: reliable and keep-all.

    Nothing is overwritten before it is read: when the subscriber falls
    behind, DDS flow control holds the publisher back instead of dropping.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
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


# Keyframes a late subscriber (a generator node started later, or elsewhere) receives.
KEYFRAME_HISTORY = 100


def keyframe_history_qos(depth: int = KEYFRAME_HISTORY) -> QoSProfile:
    """Return the QoS of ``~/keyframes``: reliable, the last ``depth`` kept for late joiners.

    Each node that rebuilds the memory from the keyframes subscribes with it
    too, so it receives the keyframes published before it started.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


# Requests a service queues: a burst of callers (a dashboard, scripts, a
# fleet manager) is answered in turn instead of the requests past the default
# ten being dropped unanswered.
SERVICE_QUEUE = 1000


def service_qos() -> QoSProfile:
    """Return the QoS of the nodes' services: reliable, a deep request queue."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=SERVICE_QUEUE,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
