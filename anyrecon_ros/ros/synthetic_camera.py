# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""synthetic_camera: plays a scene as a posed RGB-D camera driver would publish it.

The scene is the embedded procedural one (``synthetic:SEED``), so the package
runs end to end with no camera and no data set, or a posed scene on disk
(anything ``core.scene_io.open_scene`` reads). Each frame goes out on
``image``, ``camera_info``, ``depth`` (when the scene has depth), ``pose`` and
``odom``, all with one header stamp, so a consumer can pair them exactly.
"""

import sys

import cv2
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.scene_io import open_scene
from anyrecon_ros.core.scene_io import Scene
from anyrecon_ros.ros.conversions.camera_info import camera_to_camera_info
from anyrecon_ros.ros.conversions.image import array_to_image
from anyrecon_ros.ros.conversions.pose import matrix_to_pose
from anyrecon_ros.ros.parameters import declare
from anyrecon_ros.ros.parameters import declare_shared
from anyrecon_ros.ros.qos import sensor_qos
from anyrecon_ros.ros.run import run_node

SYNTHETIC_PREFIX = 'synthetic:'
# Poses on the procedural camera loop when ``frames`` is 0.
SYNTHETIC_LOOP_FRAMES = 12
MAX_SIZE = 8192


class ProceduralSource:
    """Frames rendered along ``ProceduralScene.camera_path``: exact RGB and metric depth."""

    has_depth = True

    def __init__(self, seed: int, frames: int, width: int, height: int):
        self.scene = ProceduralScene(seed=seed)
        self.camera = render_camera(default_camera(), width, height)
        self.poses = self.scene.camera_path(frames or SYNTHETIC_LOOP_FRAMES)

    def __len__(self):
        return len(self.poses)

    def frame(self, index: int):
        """Return frame ``index`` as (rgb, depth in metres, camera-to-world)."""
        rgb, depth = self.scene.render(self.camera, self.poses[index])
        return rgb, depth, self.poses[index]


class FolderSource:
    """The views of a scene on disk, in order, resized to the render size."""

    def __init__(self, scene: Scene, frames: int, width: int, height: int):
        self.scene = scene
        self.count = min(frames, len(scene)) if frames else len(scene)
        self.camera = render_camera(scene.camera, width, height)
        self.has_depth = any(frame.depth_path is not None for frame in scene.frames)

    def __len__(self):
        return self.count

    def frame(self, index: int):
        """Return frame ``index`` as (rgb, depth in metres or None, camera-to-world)."""
        view = self.scene.view(index)
        size = (self.camera.width, self.camera.height)
        rgb, depth = view.rgb, view.depth
        if size != (self.scene.camera.width, self.scene.camera.height):
            # Area averaging when shrinking avoids aliasing; depth is never
            # blended across an edge into depths no surface has.
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            if depth is not None:
                depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        return rgb, depth, view.camera_to_world


def render_camera(native: PinholeCamera, width: int, height: int) -> PinholeCamera:
    """Return ``native`` scaled to ``width`` x ``height``; 0 keeps the aspect ratio, both 0 it."""
    if width == 0 and height == 0:
        return native
    if width == 0:
        width = max(1, round(native.width * height / native.height))
    if height == 0:
        height = max(1, round(native.height * width / native.width))
    return native.scaled(width, height)


def parse_scene(spec: str, frames: int = 0, width: int = 0, height: int = 0):
    """Return the frame source named by ``spec``: ``synthetic:SEED`` or a scene path.

    Raises ValueError with the accepted forms when ``spec`` is neither.
    """
    if spec.startswith(SYNTHETIC_PREFIX):
        seed = spec[len(SYNTHETIC_PREFIX):]
        if not seed.isdigit():
            raise ValueError(f'scene {spec!r}: the seed must be a non-negative integer, '
                             f'as in synthetic:0')
        return ProceduralSource(int(seed), frames, width, height)
    try:
        scene = open_scene(spec)
    except ValueError as error:
        raise ValueError(f'scene {spec!r} is neither synthetic:SEED nor a readable scene: '
                         f'{error}') from error
    return FolderSource(scene, frames, width, height)


class SyntheticCamera(Node):
    """Publish a scene's frames on image, camera_info, depth, pose and odom at ``rate``."""

    def __init__(self, **kwargs):
        super().__init__('synthetic_camera', **kwargs)
        spec = declare(self, 'scene', 'synthetic:0',
                       'Scene to play: synthetic:SEED (the embedded procedural scene) or the '
                       'path of a posed-scene folder, COLMAP model or transforms.json.')
        rate = declare(self, 'rate', 2.0, 'Frames per second.', (0.01, 100.0))
        frames = declare(self, 'frames', 0,
                         'Frames to play: poses on the synthetic loop, or the first views of a '
                         f'folder; 0 = {SYNTHETIC_LOOP_FRAMES} on the loop, every view of a '
                         'folder.', (0, 100000))
        width = declare(self, 'width', 0, 'Image width in pixels; 0 = native (640 for '
                        'synthetic), or from height keeping the aspect ratio.', (0, MAX_SIZE))
        height = declare(self, 'height', 0, 'Image height in pixels; 0 = native (480 for '
                         'synthetic), or from width keeping the aspect ratio.', (0, MAX_SIZE))
        self.loop = declare(self, 'loop', False, 'Start again after the last frame.')
        self.frame_id = declare_shared(self, 'frame_id')
        self.camera_frame_id = declare(
            self, 'camera_frame_id', 'camera_optical_frame',
            'Optical frame of image, camera_info and depth; child_frame_id of odom.')
        self.wait_for_subscriber = declare(
            self, 'wait_for_subscriber', True,
            'Hold the first frame until image has a subscriber, so none is lost to discovery.')
        reliable = declare_shared(self, 'sensor_reliable')
        self.source = parse_scene(spec, frames, width, height)
        self.camera = self.source.camera
        self.published = 0
        self.finished = False
        self._create_publishers(sensor_qos(reliable))
        self.timer = self.create_timer(1.0 / rate, self.publish_next)
        self.get_logger().info(
            f'playing {len(self.source)} frames of {spec} at {rate} Hz, '
            f'{self.camera.width}x{self.camera.height}{" in a loop" if self.loop else ""}')

    def _create_publishers(self, qos):
        self.image_pub = self.create_publisher(Image, 'image', qos)
        self.info_pub = self.create_publisher(CameraInfo, 'camera_info', qos)
        self.depth_pub = (self.create_publisher(Image, 'depth', qos)
                          if self.source.has_depth else None)
        self.pose_pub = self.create_publisher(PoseStamped, 'pose', qos)
        self.odom_pub = self.create_publisher(Odometry, 'odom', qos)

    def publish_next(self) -> None:
        """Publish the next frame; stop after the last one unless looping."""
        if self.wait_for_subscriber and self.image_pub.get_subscription_count() == 0:
            return
        self.wait_for_subscriber = False
        # The stamp is the capture time, before the (slow) render.
        stamp = self.get_clock().now().to_msg()
        rgb, depth, camera_to_world = self.source.frame(self.published % len(self.source))
        try:
            self.publish_frame(stamp, rgb, depth, camera_to_world)
        except Exception:
            # SIGTERM shuts the context down at any moment, even between two
            # topics of one frame; that is a shutdown, not an error.
            if self.context.ok():
                raise
            return
        self.published += 1
        if self.published >= len(self.source) and not self.loop:
            self.timer.cancel()
            self.finished = True
            self.get_logger().info(f'all {self.published} frames published')

    def publish_frame(self, stamp, rgb, depth, camera_to_world) -> None:
        """Publish one frame on every topic with the same stamp."""
        optical = Header(stamp=stamp, frame_id=self.camera_frame_id)
        fixed = Header(stamp=stamp, frame_id=self.frame_id)
        pose = matrix_to_pose(camera_to_world)
        self.image_pub.publish(array_to_image(rgb, 'rgb8', optical))
        self.info_pub.publish(camera_to_camera_info(self.camera, optical))
        if self.depth_pub is not None and depth is not None:
            self.depth_pub.publish(array_to_image(depth.astype(np.float32), '32FC1', optical))
        self.pose_pub.publish(PoseStamped(header=fixed, pose=pose))
        odom = Odometry(header=fixed, child_frame_id=self.camera_frame_id)
        odom.pose.pose = pose
        self.odom_pub.publish(odom)


def main(args=None):
    """Run the node until shut down (Ctrl-C or SIGTERM)."""
    return run_node(SyntheticCamera, args)


if __name__ == '__main__':
    sys.exit(main())
