# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon map info|check|export``: inspect, verify and export a map file."""

from dataclasses import dataclass
import sys
from typing import Optional


@dataclass
class MapExport:
    """What ``export_map`` writes from a map file."""

    path: str                         # map file (SQLite)
    ply: Optional[str] = None         # write the memory as a PLY point cloud here
    transforms: Optional[str] = None  # write a nerfstudio transforms.json folder here
    colmap: Optional[str] = None      # write a COLMAP text model (and images/) here
    max_points: int = 0               # COLMAP points3D at most (0: every memory point)


def add_parser(commands) -> None:
    """Register ``anyrecon map`` and its subcommands with ``add_subparsers``'s object."""
    maps = commands.add_parser('map', help='inspect, verify and export a map file')
    map_commands = maps.add_subparsers(dest='map_command', required=True)
    info = map_commands.add_parser('info', help='print what a map holds')
    info.add_argument('map', help='map file (SQLite)')
    info.set_defaults(run=lambda args: map_info(args.map))
    check = map_commands.add_parser('check', help='verify a map; exit 1 if it is damaged')
    check.add_argument('map', help='map file (SQLite)')
    check.set_defaults(run=lambda args: check_map(args.map))
    export = map_commands.add_parser('export', help='export the memory and the views')
    export.add_argument('map', help='map file (SQLite)')
    export.add_argument('--ply', help='write the memory as a PLY point cloud here')
    export.add_argument('--transforms', metavar='DIR',
                        help='write a nerfstudio transforms.json folder (keyframes and '
                             'generated views) here, for training a Gaussian splat')
    export.add_argument('--colmap', metavar='DIR',
                        help='write a COLMAP text model (DIR/sparse/0: cameras.txt, images.txt, '
                             'points3D.txt) and DIR/images/ of the keyframes and accepted '
                             'generated views here, for Gaussian-splatting and NeRF tools')
    export.add_argument('--max-points', type=int, default=0,
                        help='--colmap: at most this many points3D, spread out (default: '
                             'every memory point)')
    export.set_defaults(run=run_export)


def run_export(args) -> int:
    """Run ``anyrecon map export``: at least one of --ply, --transforms and --colmap."""
    if not (args.ply or args.transforms or args.colmap):
        print('anyrecon map export: name --ply, --transforms and/or --colmap', file=sys.stderr)
        return 2
    if args.max_points < 0:
        print('anyrecon map export: --max-points must be >= 0', file=sys.stderr)
        return 2
    return export_map(MapExport(path=args.map, ply=args.ply, transforms=args.transforms,
                                colmap=args.colmap, max_points=args.max_points))


def _open_map(path):
    from anyrecon_ros.core.map_store import MapStore
    return MapStore(path, read_only=True)


def map_info(path: str) -> int:
    """Print what the map file at ``path`` holds, and the units of its lengths."""
    from anyrecon_ros.loop.map_export import map_units
    with _open_map(path) as store:
        for key, value in store.info().items():
            print(f'{key}: {value}')
        print(f'units: {map_units(store).describe()}')
    return 0


def check_map(path: str) -> int:
    """Verify the map file at ``path``: print its problems; return 1 if it has any."""
    with _open_map(path) as store:
        problems = store.check()
    for problem in problems:
        print(f'{path}: {problem}', file=sys.stderr)
    print(f'{path}: {"intact" if not problems else f"{len(problems)} problem(s)"}')
    return 0 if not problems else 1


def export_map(export: MapExport) -> int:
    """Write the memory (PLY), the views (transforms.json) and/or a COLMAP model of a map file.

    ValueError (one line from ``main``) when the map holds nothing to export.
    """
    from anyrecon_ros.loop.map_export import export_colmap
    from anyrecon_ros.loop.map_export import export_ply
    from anyrecon_ros.loop.map_export import export_transforms
    with _open_map(export.path) as store:
        if export.ply:
            memory = export_ply(store, export.ply)
            print(f'wrote {len(memory)} points to {export.ply}')
        if export.transforms:
            keyframes, generated = export_transforms(store, export.transforms)
            print(f'wrote {keyframes} keyframes and {generated} generated views '
                  f'to {export.transforms}')
        if export.colmap:
            written = export_colmap(store, export.colmap, export.max_points)
            print(f'wrote a COLMAP model of {written.keyframes} keyframes, '
                  f'{written.generated} generated views and {written.points} points '
                  f'to {written.model} (images in {export.colmap}/images)')
    return 0
