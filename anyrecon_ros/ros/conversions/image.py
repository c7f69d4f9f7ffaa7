# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert between sensor_msgs/Image and numpy arrays."""

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from anyrecon_ros.core.camera import MAX_IMAGE_PIXELS
from anyrecon_ros.ros.conversions._common import ConversionError, to_message_bytes
from anyrecon_ros.ros.conversions._ros_libraries import cv_bridge

# Encoding name (sensor_msgs/image_encodings.hpp) -> (element type, channels).
ENCODINGS = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4),
    'bgra8': (np.dtype(np.uint8), 4),
    'mono8': (np.dtype(np.uint8), 1),
    'mono16': (np.dtype(np.uint16), 1),
    '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}

# Channel indices that turn an image of each encoding into RGB.
_RGB_CHANNELS = {'rgb8': [0, 1, 2], 'bgr8': [2, 1, 0], 'rgba8': [0, 1, 2], 'bgra8': [2, 1, 0],
                 'mono8': [0, 0, 0]}

# Encodings cv_bridge (OpenCV's cvtColor) turns into rgb8 faster than numpy's
# channel copies, as ``anyrecon bench --sections conversions`` measures: where
# it is installed, image_to_rgb8 uses it for them. An rgb8 image is a plain
# copy, which numpy does faster.
CV_BRIDGE_RGB8_ENCODINGS = ('bgr8', 'rgba8', 'bgra8', 'mono8')

_MILLIMETRE_DEPTH_ENCODINGS = ('16UC1', 'mono16')
# 16-bit depth cameras write 0 for "no return" and the maximum for "out of range".
_INVALID_MILLIMETRES = (0, np.iinfo(np.uint16).max)


def image_to_array(msg: Image) -> np.ndarray:
    """Return the pixels of an image: (H, W) for one channel, else (H, W, C).

    Channels stay in the message's order and values in its element type, in
    native byte order. Row padding (``step``) is skipped. When the message is
    native-endian the result is a view of ``msg.data`` (no copy).
    """
    dtype, channels = _encoding_format(msg.encoding)
    row_bytes = msg.width * channels * dtype.itemsize
    _check_image_size(msg, row_bytes)
    message_dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    pixels = np.ndarray(
        shape=(msg.height, msg.width, channels), dtype=message_dtype, buffer=msg.data,
        strides=(msg.step, channels * dtype.itemsize, dtype.itemsize))
    if not message_dtype.isnative:
        pixels = pixels.astype(dtype)
    return pixels[:, :, 0] if channels == 1 else pixels


def array_to_image(array, encoding: str, header: Header | None = None) -> Image:
    """Return an Image of ``encoding`` holding ``array`` (little-endian, rows unpadded).

    ``array`` is (H, W) or (H, W, 1) for one-channel encodings, else (H, W, C),
    with exactly the encoding's element type.
    """
    dtype, channels = _encoding_format(encoding)
    array = np.asarray(array)
    if array.dtype.type is not dtype.type:
        raise ConversionError(f'{encoding} needs {dtype} pixels, got {array.dtype}')
    if channels == 1 and array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] != channels:
        expected = '(H, W)' if channels == 1 else f'(H, W, {channels})'
        raise ConversionError(f'{encoding} needs an array of shape {expected}, got {array.shape}')
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ConversionError(f'cannot make an empty {width}x{height} {encoding} image')
    msg = Image(header=header if header is not None else Header(), height=height, width=width,
                encoding=encoding, is_bigendian=0, step=width * channels * dtype.itemsize)
    msg.data = to_message_bytes(array.astype(dtype.newbyteorder('<'), copy=False))
    return msg


def image_to_rgb8(msg: Image) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB copy of a colour or mono8 image.

    Where cv_bridge is installed, images of ``CV_BRIDGE_RGB8_ENCODINGS``
    without row padding are converted by it (``cv_bridge_rgb8``), the others
    here (``numpy_rgb8``); both give the same pixels.
    """
    if msg.encoding in CV_BRIDGE_RGB8_ENCODINGS and cv_bridge() is not None and (
            msg.step == msg.width * ENCODINGS[msg.encoding][1]):
        return cv_bridge_rgb8(msg)
    return numpy_rgb8(msg)


def numpy_rgb8(msg: Image) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB copy of a colour or mono8 image, converted with numpy."""
    pixels = image_to_array(_rgb8_source(msg))
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
    order = _RGB_CHANNELS[msg.encoding]
    if pixels.shape[2] == 3 and order == [0, 1, 2]:
        return np.array(pixels, order='C')
    # One strided copy per channel: faster than fancy indexing or a channel slice.
    rgb = np.empty(pixels.shape[:2] + (3,), np.uint8)
    for channel, source in enumerate(order):
        rgb[:, :, channel] = pixels[:, :, source]
    return rgb


def cv_bridge_rgb8(msg: Image) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB copy of a colour or mono8 image, converted by cv_bridge.

    The message is checked as ``image_to_array`` checks it first. Raises
    ConversionError when cv_bridge is not installed, and for padded rows
    (cv_bridge reads a row of ``step`` bytes as whole pixels).
    """
    bridge = cv_bridge()
    if bridge is None:
        raise ConversionError('cv_bridge is not installed')
    pixels = image_to_array(_rgb8_source(msg))
    if msg.step != pixels[0].nbytes:
        raise ConversionError(f'cv_bridge_rgb8 takes unpadded rows; step is {msg.step}, '
                              f'{msg.width} pixels are {pixels[0].nbytes} bytes')
    return bridge.imgmsg_to_cv2(msg, 'rgb8')


def _rgb8_source(msg: Image) -> Image:
    if msg.encoding not in _RGB_CHANNELS:
        raise ConversionError(
            f'cannot convert a {msg.encoding!r} image to rgb8; supported: '
            f'{", ".join(_RGB_CHANNELS)}')
    return msg


def depth_to_metres(msg: Image) -> np.ndarray:
    """Return an (H, W) float32 depth image in metres, NaN where there is no valid depth.

    16UC1 and mono16 hold millimetres, 32FC1 metres. Zero, negative and
    non-finite depths, and 65535 in 16-bit images, are invalid.
    """
    if msg.encoding in _MILLIMETRE_DEPTH_ENCODINGS:
        millimetres = image_to_array(msg)
        metres = millimetres / np.float32(1000.0)
        low, high = _INVALID_MILLIMETRES
        metres[(millimetres == low) | (millimetres == high)] = np.nan
        return metres
    if msg.encoding == '32FC1':
        metres = image_to_array(msg).astype(np.float32)  # a copy: NaNs are written below
        metres[~((metres > 0.0) & np.isfinite(metres))] = np.nan
        return metres
    raise ConversionError(
        f'a depth image must be 16UC1, mono16 (millimetres) or 32FC1 (metres), '
        f'got {msg.encoding!r}')


def _encoding_format(encoding: str):
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ConversionError(
            f'unsupported image encoding {encoding!r}; supported: {", ".join(ENCODINGS)}'
        ) from None


def _check_image_size(msg: Image, row_bytes: int):
    if msg.width == 0 or msg.height == 0:
        raise ConversionError(f'{msg.encoding} image is empty ({msg.width}x{msg.height})')
    if msg.step < row_bytes:
        raise ConversionError(
            f'{msg.encoding} image step {msg.step} is shorter than its {msg.width} pixels '
            f'({row_bytes} bytes)')
    if msg.width * msg.height > MAX_IMAGE_PIXELS:
        raise ConversionError(
            f'{msg.encoding} image is {msg.width}x{msg.height}, more than the {MAX_IMAGE_PIXELS}'
            ' pixels a keyframe may have')
    if len(msg.data) != msg.step * msg.height:
        raise ConversionError(
            f'{msg.encoding} image data has {len(msg.data)} bytes, but step * height = '
            f'{msg.step} * {msg.height}')
