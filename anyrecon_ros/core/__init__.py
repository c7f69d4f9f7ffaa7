# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS-free core: cameras, poses, scenes, geometry memory."""
