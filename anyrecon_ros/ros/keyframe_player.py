# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""keyframe_player: publishes posed RGB-D keyframes of a scene, like a robot would.

The default scene is the embedded procedural one (``synthetic:SEED``), so the
package runs end to end with no camera and no data set.
"""

import sys

from rclpy.node import Node

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.parameters import declare
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.run import run_node

SYNTHETIC_PREFIX = 'synthetic:'


def parse_scene(spec: str) -> ProceduralScene:
    """Return the scene named by ``spec`` (``synthetic:SEED``); ValueError otherwise."""
    if spec.startswith(SYNTHETIC_PREFIX):
        seed = spec[len(SYNTHETIC_PREFIX):]
        if seed.isdigit():
            return ProceduralScene(seed=int(seed))
    raise ValueError(f'scene {spec!r} is not supported: use synthetic:SEED (e.g. synthetic:0)')


class KeyframePlayer(Node):
    """Render a camera path through a scene and publish one Keyframe per pose on ``keyframe``."""

    def __init__(self, **kwargs):
        super().__init__('keyframe_player', **kwargs)
        spec = declare(self, 'scene', 'synthetic:0', 'Scene to play: synthetic:SEED.')
        rate = declare(self, 'rate', 2.0, 'Keyframes per second.', (0.01, 100.0))
        frames = declare(self, 'frames', 12, 'Keyframes on the camera path.', (1, 100000))
        self.loop = declare(self, 'loop', False, 'Start the path again after the last frame.')
        self.frame_id = declare(self, 'frame_id', 'map', 'Fixed frame of the published poses.')
        self.wait_for_subscriber = declare(
            self, 'wait_for_subscriber', True,
            'Hold the first keyframe until a subscriber has matched, so none is lost to '
            'discovery (keyframes are volatile).')
        self.scene = parse_scene(spec)
        self.camera = default_camera()
        self.path = self.scene.camera_path(frames)
        self.published = 0
        self.publisher = self.create_publisher(Keyframe, 'keyframe', keyframe_qos())
        self.timer = self.create_timer(1.0 / rate, self.publish_next)
        self.get_logger().info(f'playing {frames} keyframes of {spec} at {rate} Hz')

    def publish_next(self) -> None:
        """Render and publish the next keyframe of the path."""
        if self.wait_for_subscriber and self.publisher.get_subscription_count() == 0:
            return
        self.wait_for_subscriber = False
        index = self.published % len(self.path)
        if self.published >= len(self.path) and not self.loop:
            self.timer.cancel()
            self.get_logger().info(f'all {self.published} keyframes published')
            return
        view = self.scene.capture_view(self.camera, self.path[index], self.published)
        self.publisher.publish(
            view_to_keyframe(view, self.frame_id, self.get_clock().now().to_msg()))
        self.published += 1


def main(args=None):
    """Run the node until shut down (Ctrl-C or SIGTERM)."""
    return run_node(KeyframePlayer, args)


if __name__ == '__main__':
    sys.exit(main())
