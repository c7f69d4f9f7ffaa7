# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon node NAME``: one node, as ``ros2 run anyrecon_ros NAME`` runs it."""

import argparse
import importlib

# The nodes ``anyrecon node NAME`` starts: the executables of ``ros2 run anyrecon_ros``.
from anyrecon_ros.ros.nodes import NODES


def add_parser(commands) -> None:
    """Register ``anyrecon node`` with the subcommands' ``add_subparsers`` object."""
    node = commands.add_parser(
        'node', help='run one node, like `ros2 run anyrecon_ros NAME` (no ros2cli needed)')
    node.add_argument('name', choices=NODES, help='the node to run')
    node.add_argument('ros_args', nargs=argparse.REMAINDER,
                      help='passed to the node, e.g. --ros-args -p rate:=2.0')
    node.set_defaults(run=run)


def run(args) -> int:
    """Run the node's ``main`` (``anyrecon_ros.ros.NAME``) until it is shut down."""
    module = importlib.import_module(f'anyrecon_ros.ros.{args.name}')
    return module.main([args.name] + args.ros_args)
