# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The reconstruction loop, its outputs, offline runs and evaluation (no ROS)."""
