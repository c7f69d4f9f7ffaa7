# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert between sensor_msgs/CameraInfo and PinholeCamera."""

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from anyrecon_ros.core.camera import PinholeCamera, PLUMB_BOB_COEFFICIENTS
from anyrecon_ros.ros.conversions._common import ConversionError

PLUMB_BOB = 'plumb_bob'
RATIONAL_POLYNOMIAL = 'rational_polynomial'


def camera_info_to_camera(msg: CameraInfo) -> PinholeCamera:
    """Return the pinhole camera described by a CameraInfo's K and distortion.

    rational_polynomial is accepted when its extra coefficients (k4..k6) are
    zero, which makes it plumb_bob.
    """
    _check_full_resolution(msg)
    distortion = _plumb_bob_coefficients(msg)
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    try:
        camera = PinholeCamera(width=msg.width, height=msg.height, fx=k[0, 0], fy=k[1, 1],
                               cx=k[0, 2], cy=k[1, 2], distortion=distortion)
    except ValueError as error:
        raise ConversionError(f'invalid CameraInfo intrinsics: {error}') from error
    if not np.array_equal(k, camera.K):
        raise ConversionError(f'CameraInfo K has skew or a malformed last row: {k.tolist()}')
    return camera


def camera_to_camera_info(camera: PinholeCamera, header: Header | None = None) -> CameraInfo:
    """Return the CameraInfo of an unrectified camera: K, P = [K | 0], R = I, plumb_bob."""
    msg = CameraInfo(header=header if header is not None else Header(),
                     width=camera.width, height=camera.height, distortion_model=PLUMB_BOB)
    msg.k = camera.K.reshape(-1)
    msg.r = np.eye(3).reshape(-1)
    msg.p = np.hstack([camera.K, np.zeros((3, 1))]).reshape(-1)
    msg.d = [] if camera.distortion is None else camera.distortion.tolist()
    return msg


def _plumb_bob_coefficients(msg: CameraInfo):
    coefficients = np.asarray(msg.d, dtype=np.float64)
    model = msg.distortion_model
    if model == RATIONAL_POLYNOMIAL and coefficients.size > PLUMB_BOB_COEFFICIENTS:
        if np.any(coefficients[PLUMB_BOB_COEFFICIENTS:]):
            raise ConversionError(
                f'distortion model {model!r} with non-zero k4..k6 is not supported')
        return coefficients[:PLUMB_BOB_COEFFICIENTS]
    if model in (PLUMB_BOB, RATIONAL_POLYNOMIAL):
        return coefficients if coefficients.size else None
    if model == '' and not np.any(coefficients):
        return None
    raise ConversionError(
        f'unsupported distortion model {model!r}; supported: {PLUMB_BOB}, '
        f'{RATIONAL_POLYNOMIAL} (with k4..k6 zero), or none')


def _check_full_resolution(msg: CameraInfo):
    # Binning and a region of interest change the intrinsics of the published
    # image; ignoring them would silently give a wrong camera.
    if msg.binning_x > 1 or msg.binning_y > 1:
        raise ConversionError(
            f'CameraInfo binning {msg.binning_x}x{msg.binning_y} is not supported')
    roi = msg.roi
    full_image = (roi.x_offset, roi.y_offset, roi.width, roi.height) in (
        (0, 0, 0, 0), (0, 0, msg.width, msg.height))
    if not full_image:
        raise ConversionError(
            f'CameraInfo region of interest {roi.width}x{roi.height}+{roi.x_offset}+'
            f'{roi.y_offset} is not supported')
