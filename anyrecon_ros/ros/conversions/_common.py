# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What every conversion module shares: the error types, validation helpers, fast byte copies."""

import array

import numpy as np


class ConversionError(ValueError):
    """A message and an array (or core type) cannot be converted into each other."""


class InvalidKeyframe(ConversionError):
    """An input view that cannot be used; ``reason`` is the drop counter's key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def converted(reason: str, convert, value, error=InvalidKeyframe):
    """Return ``convert(value)``; a ValueError becomes ``error(reason, ...)``."""
    try:
        return convert(value)
    except ValueError as failure:
        raise error(reason, str(failure)) from failure


def check_frame_id(header, frame_id, error=InvalidKeyframe) -> None:
    """Raise ``error('unknown_frame', ...)`` unless ``header`` is in ``frame_id`` (None: any)."""
    if frame_id is not None and header.frame_id != frame_id:
        raise error('unknown_frame', f'frame_id {header.frame_id!r} is not the fixed frame '
                    f'{frame_id!r}')


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
