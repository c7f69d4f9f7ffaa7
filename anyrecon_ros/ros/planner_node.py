# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""planner_node: plans viewpoint trajectories for the generator and publishes them as a Path.

It keeps the latest memory cloud and the keyframes' poses and plans on request
(``~/plan``) or every ``period`` seconds, in one of three modes: ``coverage``
(views of what the memory has not seen, from the latest keyframe),
``interpolate`` (through the keyframes) or ``extrapolate`` (beyond the last
keyframe). Planning is the core's (``core.planning``); the node converts,
checks and publishes.
"""

from dataclasses import replace
import sys

from nav_msgs.msg import Path
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2
from std_srvs.srv import Trigger

from anyrecon_ros.core.drop_counter import DropCounter
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.planning import CoverageConfig
from anyrecon_ros.core.planning import cut_segments
from anyrecon_ros.core.planning import extrapolate_trajectory
from anyrecon_ros.core.planning import interpolate_trajectory
from anyrecon_ros.core.planning import plan_coverage
from anyrecon_ros.core.planning import Trajectory
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions import check_frame_id
from anyrecon_ros.ros.conversions import ConversionError
from anyrecon_ros.ros.conversions import InvalidKeyframe
from anyrecon_ros.ros.conversions._common import converted
from anyrecon_ros.ros.conversions.camera_info import camera_info_to_camera
from anyrecon_ros.ros.conversions.path import poses_to_path
from anyrecon_ros.ros.conversions.point_cloud import cloud_to_points
from anyrecon_ros.ros.conversions.pose import pose_to_matrix
from anyrecon_ros.ros.parameters import declare
from anyrecon_ros.ros.parameters import declare_config
from anyrecon_ros.ros.parameters import declare_shared
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import latched_qos
from anyrecon_ros.ros.qos import service_qos
from anyrecon_ros.ros.run import run_node

MODES = ('coverage', 'interpolate', 'extrapolate')
# One log line per problem at most this often, so periodic planning cannot flood the log.
LOG_THROTTLE_SECONDS = 5.0


class PlanningUnavailable(Exception):
    """Planning cannot run now; the message says why (returned by ``~/plan``)."""


class PlannerNode(Node):
    """Subscribe ``memory`` and ``keyframes``; publish ``~/trajectory``; serve ``~/plan``."""

    def __init__(self, **kwargs):
        super().__init__('planner_node', **kwargs)
        self.frame_id = declare_shared(self, 'frame_id')
        self.mode = declare(self, 'mode', 'coverage',
                            'How to plan: coverage (views of unseen space from the latest '
                            'keyframe), interpolate (through the keyframes) or extrapolate '
                            '(beyond the last keyframe).')
        if self.mode not in MODES:
            raise ValueError(f'mode {self.mode!r} is not one of {", ".join(MODES)}')
        self.seed = declare(self, 'seed', 0, 'Seed of coverage planning: the same inputs and '
                            'seed give the same plan.', (0, 2**31 - 1))
        period = declare(self, 'period', 0.0,
                         'Seconds between plans; 0 = only on a ~/plan request.', (0.0, 3600.0))
        self.voxel_size = declare_config(self, MemoryConfig(), ('voxel_size',)).voxel_size
        self._declare_mode_parameters()
        self.coverage = declare_config(self, CoverageConfig())
        self.cloud = None            # (xyz, rgb) of the latest memory cloud
        self._memory = None          # the cloud fused into a GeometryMemory, built on demand
        self.camera = None           # intrinsics of the latest keyframe
        self.keyframe_poses = {}     # keyframe id -> camera-to-world, in arrival order
        self.last_trajectory = None  # the latest published plan (core Trajectory)
        self.drops = DropCounter()   # inputs refused, by reason
        self.trajectory_pub = self.create_publisher(Path, '~/trajectory', latched_qos())
        self.create_subscription(PointCloud2, 'memory', self.on_memory, latched_qos())
        self.create_subscription(Keyframe, 'keyframes', self.on_keyframe,
                                 keyframe_history_qos())
        self.create_service(Trigger, '~/plan', self.on_plan_request, qos_profile=service_qos())
        if period > 0:
            self.create_timer(period, self.on_timer)
        self.get_logger().info(f'planning in {self.mode} mode'
                               + (f' every {period} s' if period > 0 else ' on request'))

    def _declare_mode_parameters(self):
        self.n_views = declare(self, 'n_views', 5, 'coverage: most views of unseen space '
                               'to visit.', (1, 100))
        self.frames_between = declare(self, 'frames_between', 10, 'interpolate: poses '
                                      'between consecutive keyframes.', (0, 10000))
        self.extrapolate_frames = declare(self, 'extrapolate_frames', 40, 'extrapolate: '
                                          'poses beyond the last keyframe.', (1, 10000))

    # ---- inputs ------------------------------------------------------------------------------

    def on_memory(self, msg: PointCloud2) -> None:
        """Keep the latest memory cloud; it is fused into a memory when a plan needs it."""
        try:
            check_frame_id(msg.header, self.frame_id)
            xyz, rgb, _ = cloud_to_points(msg)
        except ConversionError as error:
            self._warn(f'ignored a memory cloud: {error}')
            return
        self.cloud = (xyz, rgb)
        self._memory = None

    def on_keyframe(self, msg: Keyframe) -> None:
        """Keep the keyframe's pose, and its intrinsics as the camera to plan for."""
        try:
            check_frame_id(msg.header, self.frame_id)
            camera = converted('bad_camera_info', camera_info_to_camera, msg.camera_info)
            pose = converted('bad_pose', pose_to_matrix, msg.pose)
        except InvalidKeyframe as error:
            self.drops.add(error.reason)
            self._warn(f'ignored keyframe {msg.id}: {error}')
            return
        # Plans are rendered as pinhole views: the generator works on undistorted images.
        self.camera = replace(camera, distortion=None)
        self.keyframe_poses[msg.id] = pose

    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=LOG_THROTTLE_SECONDS)

    # ---- planning ----------------------------------------------------------------------------

    def on_plan_request(self, request, response):
        """Serve ~/plan: plan now and publish; say why not when planning cannot run."""
        response.success, response.message = self.plan_and_publish()
        return response

    def on_timer(self) -> None:
        """Plan periodically; a plan that cannot run now is logged (throttled), not fatal."""
        success, message = self.plan_and_publish()
        if not success:
            self._warn(f'no plan: {message}')

    def plan_and_publish(self) -> tuple:
        """Plan in the configured mode and publish it; return (success, message)."""
        try:
            trajectory = self.plan()
            path = poses_to_path(trajectory.poses, self.frame_id, self.get_clock().now())
        except PlanningUnavailable as error:
            return False, str(error)
        except ValueError as error:   # the core refused its inputs
            return False, f'{self.mode} planning failed: {error}'
        self.trajectory_pub.publish(path)
        self.last_trajectory = trajectory
        message = (f'{self.mode}: {len(trajectory.poses)} poses, '
                   f'{len(trajectory.viewpoint_indices)} viewpoints, '
                   f'{len(trajectory.segments)} segments')
        self.get_logger().info(f'published {message}')
        return True, message

    def plan(self) -> Trajectory:
        """Return a trajectory in the configured mode; PlanningUnavailable says what is missing."""
        if self.mode == 'coverage':
            memory = self.geometry_memory()
            keyframes = self._keyframes(1)
            return plan_coverage(memory, self.camera, keyframes[-1], self.n_views,
                                 self.coverage, seed=self.seed)
        keyframes = self._keyframes(2)
        if self.mode == 'interpolate':
            poses = interpolate_trajectory(keyframes, self.frames_between)
            at_keyframes = np.arange(len(keyframes)) * (self.frames_between + 1)
            return self._unscored(poses, at_keyframes)
        # The path starts where the camera last was, as a coverage path does.
        poses = np.concatenate([keyframes[-1:], extrapolate_trajectory(
            keyframes, self.extrapolate_frames)])
        return self._unscored(poses, np.empty(0, np.int64))

    def geometry_memory(self) -> GeometryMemory:
        """Return the latest memory cloud fused into a GeometryMemory (cached per cloud)."""
        if self.cloud is None:
            raise PlanningUnavailable('no memory cloud received yet on '
                                      f'{self.resolve_topic_name("memory")}')
        if self._memory is None:
            xyz, rgb = self.cloud
            if not len(xyz):
                raise PlanningUnavailable('the memory cloud is empty')
            colours = np.zeros_like(xyz) if rgb is None else rgb.astype(np.float32)
            memory = GeometryMemory(MemoryConfig(voxel_size=self.voxel_size))
            memory.fuse_points(xyz, colours, np.ones(len(xyz), np.float32))
            self._memory = memory
        return self._memory

    def _keyframes(self, minimum: int) -> np.ndarray:
        count = len(self.keyframe_poses)
        if count == 0:
            raise PlanningUnavailable('no keyframes received yet on '
                                      f'{self.resolve_topic_name("keyframes")}')
        if count < minimum:
            raise PlanningUnavailable(f'{self.mode} needs at least {minimum} keyframes, '
                                      f'have {count}')
        return np.array(list(self.keyframe_poses.values()))

    def _unscored(self, poses, viewpoint_indices) -> Trajectory:
        # Only coverage planning renders the memory; NaN says "not scored".
        return Trajectory(poses, np.full(len(poses), np.nan),
                          cut_segments(poses, self.coverage.segment_length,
                                       self.coverage.segment_overlap),
                          viewpoint_indices)


def main(args=None):
    """Run the node until shut down (Ctrl-C or SIGTERM)."""
    return run_node(PlannerNode, args)


if __name__ == '__main__':
    sys.exit(main())
