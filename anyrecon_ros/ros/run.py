# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Run one node in its own process, as every node's ``main`` does."""

import sys

import rclpy
from rclpy.executors import ExternalShutdownException

from anyrecon_ros.ros.middleware import configure_dds_environment


def run_node(node_class, args=None) -> int:
    """Spin ``node_class()`` until Ctrl-C or SIGTERM; return the process exit code.

    A ValueError while the node starts (a bad parameter, a missing file) is
    reported in one line and exits with 2, rather than as a traceback.
    """
    configure_dds_environment()
    rclpy.init(args=args)
    try:
        node = node_class()
    except ValueError as error:
        print(f'{node_class.__name__}: {error}', file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # noqa: B902  (re-raised unless shutdown caused it)
        # SIGTERM shuts the context down; a callback that was running then
        # fails to publish. That is the end of the process, not an error.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
