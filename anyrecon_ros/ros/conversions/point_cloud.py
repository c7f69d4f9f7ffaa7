# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert between sensor_msgs/PointCloud2 and numpy arrays of points."""

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from anyrecon_ros.ros.conversions._common import ConversionError, to_message_bytes

# PointField datatype constant -> numpy type code (byte order added per cloud).
FIELD_TYPES = {
    PointField.INT8: 'i1', PointField.UINT8: 'u1',
    PointField.INT16: 'i2', PointField.UINT16: 'u2',
    PointField.INT32: 'i4', PointField.UINT32: 'u4',
    PointField.FLOAT32: 'f4', PointField.FLOAT64: 'f8',
}
XYZ = ('x', 'y', 'z')
# Colour fields PCL and RViz read: the low three bytes are 0xRRGGBB, stored as
# FLOAT32 bits or UINT32; 'rgba' keeps alpha in the high byte.
COLOUR_FIELDS = ('rgb', 'rgba')


def points_to_cloud(xyz, rgb=None, extra_fields=None, header: Header | None = None
                    ) -> PointCloud2:
    """Return an unorganised, little-endian FLOAT32 cloud of ``xyz`` (N, 3).

    The layout is sensor_msgs_py's ``create_cloud``: x, y, z, then 'rgb'
    (packed 0x00RRGGBB) when ``rgb`` (N, 3) uint8 is given, then each of
    ``extra_fields`` (name -> (N,) values), in order, all FLOAT32 and unpadded.
    """
    xyz = _real_array('xyz', xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ConversionError(f'xyz must have shape (N, 3), got {xyz.shape}')
    extra_fields = dict(extra_fields or {})
    _check_extra_names(extra_fields)
    names = [*XYZ, *(['rgb'] if rgb is not None else []), *extra_fields]
    points = np.empty((len(xyz), len(names)), dtype='<f4')
    points[:, :3] = xyz
    if rgb is not None:
        # Written as integers: the packed colour is a bit pattern, not a number.
        points.view('<u4')[:, 3] = _packed_rgb(rgb, len(xyz))
    first_extra = len(names) - len(extra_fields)
    for column, (name, values) in enumerate(extra_fields.items(), start=first_extra):
        points[:, column] = _extra_values(name, values, len(xyz))
    point_step = points.itemsize * len(names)
    msg = PointCloud2(
        header=header if header is not None else Header(), height=1, width=len(xyz),
        fields=[PointField(name=name, offset=points.itemsize * index,
                           datatype=PointField.FLOAT32, count=1)
                for index, name in enumerate(names)],
        is_bigendian=False, point_step=point_step, row_step=point_step * len(xyz),
        is_dense=_all_finite(xyz if xyz.dtype == points.dtype else points[:, :3]))
    msg.data = to_message_bytes(points)
    return msg


def cloud_to_points(msg: PointCloud2, skip_nans: bool = True):
    """Return ``(xyz, rgb, extras)`` read from any PointCloud2 with x, y, z fields.

    ``xyz`` is (N, 3) float32, ``rgb`` (N, 3) uint8 from an 'rgb' or 'rgba'
    field or None, ``extras`` maps every other field's name to its (N,) values
    (N, count for array fields) in native byte order. Organised clouds are read
    row by row. With ``skip_nans``, points with a non-finite coordinate are
    dropped from all three.
    """
    points = _structured_points(msg).reshape(-1)
    xyz = _xyz(points)
    if skip_nans:
        finite = np.isfinite(xyz[:, 0]) & np.isfinite(xyz[:, 1]) & np.isfinite(xyz[:, 2])
        if not finite.all():
            # Whole points first, in one copy, then the fields of those left.
            points = points[finite]
            xyz = _xyz(points)
    colour_field = next((name for name in COLOUR_FIELDS if name in points.dtype.names), None)
    rgb = _unpacked_rgb(colour_field, points[colour_field]) if colour_field else None
    extras = {name: points[name].astype(points.dtype[name].base.newbyteorder('='))
              for name in points.dtype.names if name not in (*XYZ, colour_field)}
    return xyz, rgb, extras


def _xyz(points) -> np.ndarray:
    """Return the (N, 3) float32 coordinates of structured points."""
    xyz = np.empty((len(points), 3), np.float32)
    for column, name in enumerate(XYZ):
        xyz[:, column] = points[name]
    return xyz


def _all_finite(values) -> bool:
    # Whole contiguous arrays check fastest; float32 xyz is what the cloud stores.
    return bool(np.isfinite(values).all())


def _real_array(name, values) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind not in 'iuf':
        raise ConversionError(f'{name} must be real numbers, got {values.dtype}')
    return values


def _check_extra_names(extra_fields):
    for name in extra_fields:
        # A colour name would be read back as packed colour, not as values.
        if not isinstance(name, str) or not name or name in (*XYZ, *COLOUR_FIELDS):
            raise ConversionError(
                f'extra field name {name!r} must be a non-empty string other than '
                f'{", ".join((*XYZ, *COLOUR_FIELDS))}')


def _extra_values(name, values, count) -> np.ndarray:
    values = _real_array(f'field {name!r}', values)
    if values.shape != (count,):
        raise ConversionError(
            f'field {name!r} must have shape ({count},) like xyz, got {values.shape}')
    return values


def _packed_rgb(rgb, count) -> np.ndarray:
    """Pack (N, 3) colours, integers in 0..255, into uint32 0x00RRGGBB."""
    rgb = _real_array('rgb', rgb)
    if rgb.shape != (count, 3):
        raise ConversionError(f'rgb must have shape ({count}, 3) like xyz, got {rgb.shape}')
    if rgb.dtype != np.uint8 and (rgb.dtype.kind == 'f' or (
            rgb.size and (rgb.min() < 0 or rgb.max() > 255))):
        raise ConversionError(f'rgb must be uint8 (or integers in 0..255), got {rgb.dtype}')
    channels = rgb.astype(np.uint32)
    return (channels[:, 0] << 16) | (channels[:, 1] << 8) | channels[:, 2]


def _unpacked_rgb(name, packed) -> np.ndarray:
    """Return (N, 3) uint8 colours from a packed 4-byte field of any type and byte order."""
    if packed.dtype.itemsize != 4:
        raise ConversionError(
            f'cloud field {name!r} must be a packed FLOAT32 or UINT32, got {packed.dtype}')
    bits = packed.view(np.dtype(np.uint32).newbyteorder(packed.dtype.byteorder))
    bits = bits.astype(np.uint32)
    return np.stack([(bits >> shift) & 0xFF for shift in (16, 8, 0)], axis=-1).astype(np.uint8)


def _structured_points(msg: PointCloud2) -> np.ndarray:
    """Return the cloud's points as a (height, width) structured view of ``msg.data``."""
    dtype = _point_dtype(msg)
    row_bytes = msg.width * msg.point_step
    # A single row's row_step is never used, and some drivers leave it wrong.
    row_step = msg.row_step if msg.height > 1 else row_bytes
    if msg.height > 1 and row_step < row_bytes:
        raise ConversionError(
            f'cloud row_step {row_step} is shorter than {msg.width} points of {msg.point_step} '
            f'bytes')
    needed = row_step * (msg.height - 1) + row_bytes if msg.height and msg.width else 0
    if len(msg.data) < needed:
        raise ConversionError(
            f'cloud data has {len(msg.data)} bytes, {msg.height}x{msg.width} points need '
            f'{needed}')
    return np.ndarray(shape=(msg.height, msg.width), dtype=dtype, buffer=msg.data,
                      strides=(row_step, msg.point_step))


def _point_dtype(msg: PointCloud2) -> np.dtype:
    """Return a structured dtype for one point, from the message's fields and point_step."""
    names = [field.name for field in msg.fields]
    missing = [name for name in XYZ if name not in names]
    if missing:
        raise ConversionError(f'cloud has no {", ".join(missing)} field (fields: {names})')
    if len(set(names)) != len(names):
        raise ConversionError(f'cloud has duplicate field names: {names}')
    byte_order = '>' if msg.is_bigendian else '<'
    formats = [_field_format(field, byte_order) for field in msg.fields]
    for field, field_format in zip(msg.fields, formats):
        end = field.offset + np.dtype(field_format).itemsize
        if end > msg.point_step:
            raise ConversionError(
                f'cloud field {field.name!r} ends at byte {end}, past point_step '
                f'{msg.point_step}')
    for name in (*XYZ, *COLOUR_FIELDS):
        if name in names and np.dtype(formats[names.index(name)]).shape:
            raise ConversionError(f'cloud field {name!r} must have count 1')
    return np.dtype({'names': names, 'formats': formats,
                     'offsets': [field.offset for field in msg.fields],
                     'itemsize': msg.point_step})


def _field_format(field: PointField, byte_order: str) -> str:
    code = FIELD_TYPES.get(field.datatype)
    if code is None:
        raise ConversionError(
            f'cloud field {field.name!r} has unknown datatype {field.datatype}')
    shape = f'({field.count},)' if field.count > 1 else ''
    return f'{shape}{byte_order}{code}'
