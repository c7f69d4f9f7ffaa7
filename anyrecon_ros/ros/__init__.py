# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The thin ROS 2 layer: message conversions, QoS, parameters and nodes."""
