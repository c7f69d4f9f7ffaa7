# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""memory_node: takes keyframes, keeps the capture view bank, reports its status.

Thin by design: a callback converts and validates the message, hands the view
to the core, and counts what it had to drop, by reason, in ``~/status``.
"""

import sys

from rclpy.node import Node

from anyrecon_ros.core.drop_counter import DropCounter
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.conversions import InvalidKeyframe
from anyrecon_ros.ros.conversions import keyframe_to_view
from anyrecon_ros.ros.parameters import declare
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import status_qos
from anyrecon_ros.ros.run import run_node

# One log line per reason at most this often, so a flood of bad input cannot
# flood the log too.
LOG_THROTTLE_SECONDS = 5.0


class MemoryNode(Node):
    """Subscribe ``keyframe``; publish ``~/keyframes`` (accepted) and ``~/status``."""

    def __init__(self, **kwargs):
        super().__init__('memory_node', **kwargs)
        self.frame_id = declare(self, 'frame_id', 'map',
                                'Fixed frame (REP 105) that keyframe poses must be expressed in.')
        status_period = declare(self, 'status_period', 1.0,
                                'Seconds between ~/status messages.', (0.1, 60.0))
        queue_depth = declare(self, 'keyframe_queue_depth', 10,
                              'Keyframes the subscription queues before dropping.', (1, 1000))
        self.bank = ViewBank()
        self.drops = DropCounter()
        self.keyframe_pub = self.create_publisher(Keyframe, '~/keyframes', keyframe_qos())
        self.status_pub = self.create_publisher(MemoryStatus, '~/status', status_qos())
        self.create_subscription(Keyframe, 'keyframe', self.on_keyframe, keyframe_qos(queue_depth))
        self.create_timer(status_period, self.publish_status)

    def on_keyframe(self, msg: Keyframe) -> None:
        """Validate and store a keyframe; count and log it if it must be dropped."""
        try:
            if msg.header.frame_id != self.frame_id:
                raise InvalidKeyframe('unknown_frame', f'frame_id {msg.header.frame_id!r} is '
                                      f'not the fixed frame {self.frame_id!r}')
            view = keyframe_to_view(msg)
            if view.view_id in self.bank:
                raise InvalidKeyframe('duplicate_id', f'keyframe id {view.view_id} was already '
                                      'received')
        except InvalidKeyframe as error:
            self.drop(error.reason, f'dropped keyframe {msg.id}: {error}')
            return
        self.bank.add(view)
        self.keyframe_pub.publish(msg)
        self.get_logger().info(f'keyframe {view.view_id} stored ({len(self.bank)} in the bank)')

    def drop(self, reason: str, text: str) -> None:
        """Count a dropped input and log it, throttled per reason."""
        self.drops.add(reason)
        self.get_logger().warning(f'[{reason}] {text}', throttle_duration_sec=LOG_THROTTLE_SECONDS)

    def publish_status(self) -> None:
        """Publish the memory's counters."""
        status = MemoryStatus()
        status.header.stamp = self.get_clock().now().to_msg()
        status.header.frame_id = self.frame_id
        status.keyframe_count = len(self.bank)
        reasons = self.drops.items()
        status.drop_reasons = [reason for reason, _ in reasons]
        status.drop_counts = [count for _, count in reasons]
        self.status_pub.publish(status)


def main(args=None):
    """Run the node until shut down (Ctrl-C or SIGTERM)."""
    return run_node(MemoryNode, args)


if __name__ == '__main__':
    sys.exit(main())
