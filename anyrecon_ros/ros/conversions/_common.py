# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What every conversion module shares: the error type and fast byte copies."""

import array

import numpy as np


class ConversionError(ValueError):
    """A message and an array (or core type) cannot be converted into each other."""


def to_message_bytes(values: np.ndarray) -> array.array:
    """Return the raw bytes of a C-contiguous array as the array('B') rclpy stores.

    Assigning ``bytes`` to a uint8[] message field makes the generated setter
    copy it into an ``array('B')`` (and, with ROS_PYTHON_CHECK_FIELDS=1, check
    every byte in Python); one ``frombytes`` of the array's memory is a single
    copy, and the setter keeps an ``array('B')`` as it is.
    """
    data = array.array('B')
    data.frombytes(np.ascontiguousarray(values).reshape(-1).view(np.uint8))
    return data
