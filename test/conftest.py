# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Test-wide ROS 2 settings: an isolated DDS domain on this host only."""

import os

import pytest

from anyrecon_ros.ros.middleware import configure_dds_environment

# Set before any rclpy context exists, and inherited by every process a test
# starts: discovery stays on this host, and a domain of its own keeps parallel
# runs (and other ROS users of the machine) out of the tests' graph.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
configure_dds_environment()

from ros_session import RosSession  # noqa: E402, I100  (needs the environment above)


@pytest.fixture
def ros():
    """Yield a fresh rclpy context with helpers to make nodes, spin and start processes."""
    session = RosSession()
    try:
        yield session
    finally:
        session.close()
