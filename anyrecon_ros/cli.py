# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``anyrecon`` command."""

import argparse
import sys

from anyrecon_ros import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog='anyrecon', description='AnyRecon for ROS 2: reconstruction from sparse keyframes.')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', required=True)

    demo = commands.add_parser(
        'demo', help='run the nodes over DDS on the embedded default scene')
    demo.add_argument('--scene', default='synthetic:0', help='scene to play (synthetic:SEED)')
    demo.add_argument('--frames', type=int, default=8, help='keyframes to play (default 8)')
    demo.add_argument('--rate', type=float, default=4.0, help='keyframes per second')
    demo.add_argument('--timeout', type=float, default=120.0,
                      help='seconds to wait for the memory node before failing')
    demo.set_defaults(run=_run_demo)
    return parser


def _run_demo(args) -> int:
    from anyrecon_ros.demo import run_demo
    return run_demo(scene=args.scene, frames=args.frames, rate=args.rate, timeout=args.timeout)


def main(argv=None) -> int:
    """Run the ``anyrecon`` command line."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == '__main__':
    sys.exit(main())
