# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Write coloured point clouds as binary PLY (read by open3d, MeshLab, CloudCompare)."""

from pathlib import Path

import numpy as np


def write_ply(path, positions, colours, scalars=None) -> Path:
    """Write points (N, 3), colours (N, 3) uint8 and optional float scalars {name: (N,)}.

    The file is written next to its final name and renamed into place, so a
    crash never leaves a half-written PLY behind.
    """
    path = Path(path)
    positions = np.asarray(positions, np.float32).reshape(-1, 3)
    colours = np.asarray(colours, np.uint8).reshape(-1, 3)
    scalars = scalars or {}
    if len(colours) != len(positions) or any(len(v) != len(positions) for v in scalars.values()):
        raise ValueError('positions, colours and scalars must have one row per point')
    fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
              ('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    fields += [(name, '<f4') for name in scalars]
    rows = np.empty(len(positions), dtype=fields)
    for axis, name in enumerate('xyz'):
        rows[name] = positions[:, axis]
    for channel, name in enumerate(('red', 'green', 'blue')):
        rows[name] = colours[:, channel]
    for name, values in scalars.items():
        rows[name] = values
    header = ['ply', 'format binary_little_endian 1.0', f'element vertex {len(rows)}']
    header += [f'property {"float" if kind == "<f4" else "uchar"} {name}' for name, kind in fields]
    header.append('end_header')
    partial = path.with_name(path.name + '.partial')
    with open(partial, 'wb') as stream:
        stream.write(('\n'.join(header) + '\n').encode('ascii'))
        stream.write(rows.tobytes())
    partial.replace(path)
    return path
