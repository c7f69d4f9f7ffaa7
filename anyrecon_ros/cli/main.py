# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``anyrecon`` command: one module of ``anyrecon_ros.cli`` per subcommand.

Each subcommand module has ``add_parser(commands)``, which registers its
options and sets ``run``, and ``run(args)``, which turns the options into the
typed settings of a library function and calls it. Nothing below ``cli``
sees an argparse namespace. Modules import their library only when they
run, so ``anyrecon map info`` does not load torch or rclpy.
"""

import argparse
import importlib
from pathlib import Path
import sqlite3
import sys

from anyrecon_ros import __version__
# Re-exported: the node executables, as ``anyrecon node`` lists them.
from anyrecon_ros.cli.node import NODES  # noqa: F401

# Subcommand modules (``anyrecon_ros.cli.NAME``), in the order ``anyrecon --help`` lists them.
# (``convert`` registers convert-lora, convert-vae and prepare-official.)
COMMANDS = ('demo', 'offline', 'eval', 'train', 'distill', 'export', 'convert', 'node', 'bench',
            'map')


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog='anyrecon', description='AnyRecon for ROS 2: reconstruction from sparse keyframes.')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', required=True)
    for name in COMMANDS:
        if name == 'demo':
            add_demo_parser(commands)
        else:
            importlib.import_module(f'anyrecon_ros.cli.{name}').add_parser(commands)
    return parser


def add_demo_parser(commands) -> None:
    """Register ``anyrecon demo``.

    Here rather than in ``cli/demo.py``, which imports rclpy when it is
    imported: building the parser must not need ROS.
    """
    demo = commands.add_parser(
        'demo', help='run the closed loop over DDS on the embedded scene and write its outputs')
    demo.add_argument('--out', default='out/demo', help='output folder (default out/demo)')
    demo.add_argument('--scene', help='scene for the synthetic camera (default: config/demo.yaml'
                      "'s, the embedded synthetic:0; or a posed-scene folder)")
    demo.add_argument('--timeout', type=float, default=600.0,
                      help='seconds before the demo gives up (default 600)')
    demo.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    from anyrecon_ros.cli.demo import run_demo
    return run_demo(Path(args.out), timeout=args.timeout, scene=args.scene)


def main(argv=None) -> int:
    """Run the ``anyrecon`` command line."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (OSError, ValueError, KeyError) as error:
        # Bad input (a missing or foreign file, a damaged map): one clear line, no traceback.
        print(f'anyrecon: {error}', file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as error:
        # A map damaged below what the store checks (SQLite's own pages).
        print(f'anyrecon: the map file is damaged: {error}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
