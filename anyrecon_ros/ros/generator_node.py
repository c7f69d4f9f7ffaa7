# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""generator_node: runs the closed loop along each trajectory it receives.

It rebuilds the memory from the keyframes it receives (they carry the depth
the memory node used, and their ids are what retrieval needs), so it can run
on another machine than the memory node, with DDS carrying everything. Each
trajectory (``nav_msgs/Path``) is generated in a worker thread, so the node
keeps taking keyframes meanwhile; a trajectory that arrives while one is
being generated waits, and a newer one replaces it.

The worker reports every failure on ``~/progress`` (stage ``failed``) and
keeps serving; ``~/cancel`` stops the trajectory being generated after the
current denoising step, and so does shutting the node down (SIGINT or
SIGTERM), which waits for the worker before the process exits.
"""

import sys
import threading

from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from anyrecon_ros.core.bounded_bank import BankConfig
from anyrecon_ros.core.drop_counter import DropCounter
from anyrecon_ros.core.fusion_gate import GateConfig
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_session import MapSession
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.loop.reconstruction import ReconstructionLoop
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import ViewGenerator
from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.msg import GenerationProgress
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions import ConversionError
from anyrecon_ros.ros.conversions import InvalidKeyframe
from anyrecon_ros.ros.conversions import keyframe_to_view

from anyrecon_ros.ros.conversions.generated_view import generated_frame_to_msg
from anyrecon_ros.ros.conversions.path import path_to_poses
from anyrecon_ros.ros.parameters import declare
from anyrecon_ros.ros.parameters import declare_config
from anyrecon_ros.ros.parameters import declare_shared
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import latched_qos
from anyrecon_ros.ros.qos import lossless_qos
from anyrecon_ros.ros.qos import service_qos
from anyrecon_ros.ros.qos import status_qos
from anyrecon_ros.ros.run import run_node

LOG_THROTTLE_SECONDS = 5.0
# How long shutting down waits for the worker to stop after its current step.
WORKER_STOP_SECONDS = 60.0


class GenerationCancelled(Exception):
    """Raised inside the loop's progress callback to stop a trajectory."""


class GeneratorNode(Node):
    """Subscribe ``trajectory`` and ``keyframes``; publish ``~/generated`` views and progress."""

    def __init__(self, **kwargs):
        super().__init__('generator_node', **kwargs)
        self.frame_id = declare_shared(self, 'frame_id')
        settings = declare_config(self, GeneratorSettings())
        self.loop_config = declare_config(self, LoopConfig())
        self.gate_config = declare_config(self, GateConfig())
        # The memory rebuilt from keyframes: at the memory node's voxel size.
        memory_config = declare_config(self, MemoryConfig(), ('voxel_size',))
        bank_config = declare_config(self, BankConfig())
        self.generator = ViewGenerator.load(settings)
        if not self.generator.trained:
            self.get_logger().warning(
                'the generator is untrained (checkpoint untrained, or no default shipped): its '
                'views are noise; set the checkpoint parameter to a trained generator folder')
        self.max_trajectory_poses = declare(
            self, 'max_trajectory_poses', 4000, 'Longest trajectory (poses) generated; longer '
            'paths are dropped (bad_trajectory) rather than queued for hours.', (1, 1_000_000))
        self.drops = DropCounter()
        # The node's own copy of the memory and keyframes (no map file): the
        # memory node's keyframes, fused exactly as it fused them. Keyframes
        # beyond keyframe_ram_mib live in a temporary store, deleted at exit.
        self.session = MapSession(memory_config, on_drop=self.drop, bank_config=bank_config)
        self.trajectories_done = 0
        self.generated_count = 0
        self._lock = threading.Lock()
        self._pending_keyframes = []
        self._pending_trajectory = None
        self._waiting_reported = False
        self._wake = threading.Event()
        self._stopping = False
        self._cancel = threading.Event()
        self.generated_pub = self.create_publisher(GeneratedView, '~/generated', lossless_qos())
        self.image_pub = self.create_publisher(Image, '~/generated_image', keyframe_qos())
        self.progress_pub = self.create_publisher(GenerationProgress, '~/progress', status_qos())
        self.create_subscription(Keyframe, 'keyframes', self.on_keyframe,
                                 keyframe_history_qos())
        self.create_subscription(Path, 'trajectory', self.on_trajectory, latched_qos())
        self.create_service(Trigger, '~/cancel', self.on_cancel, qos_profile=service_qos())
        self._worker = threading.Thread(target=self._work, name='generator', daemon=True)
        self._worker.start()
        chosen = ', chosen by auto' if settings.backend == 'auto' else ''
        self.get_logger().info(f'generator ready (backend {self.generator.backend}{chosen}, '
                               f'on {settings.device}, {settings.steps} steps)')

    # ---- callbacks: convert, validate, queue --------------------------------

    def on_keyframe(self, msg: Keyframe) -> None:
        """Queue a keyframe for the bank and the memory (added between trajectories)."""
        try:
            view = keyframe_to_view(msg, self.frame_id)
        except InvalidKeyframe as error:
            self.drop(error.reason, f'dropped keyframe {msg.id}: {error}')
            return
        with self._lock:
            self._pending_keyframes.append(view)
        self._wake.set()

    def on_trajectory(self, msg: Path) -> None:
        """Queue a trajectory; a newer one replaces one still waiting."""
        try:
            poses = path_to_poses(msg, self.frame_id)
        except (ConversionError, ValueError) as error:
            self.drop('bad_trajectory', f'dropped trajectory: {error}')
            return
        if not len(poses):
            self.drop('empty_trajectory', 'dropped an empty trajectory')
            return
        if len(poses) > self.max_trajectory_poses:
            self.drop('bad_trajectory', f'dropped a trajectory of {len(poses)} poses: more than '
                      f'max_trajectory_poses ({self.max_trajectory_poses})')
            return
        with self._lock:
            if self._pending_trajectory is not None:
                self.drop('superseded_trajectory', 'a newer trajectory replaced a waiting one')
            self._pending_trajectory = poses
        self._wake.set()

    def on_cancel(self, request, response):
        """Stop the trajectory being generated (after the current step) and one waiting."""
        with self._lock:
            waiting, self._pending_trajectory = self._pending_trajectory, None
        self._cancel.set()
        response.success = True
        dropped = ' (and a waiting trajectory dropped)' if waiting is not None else ''
        response.message = f'cancelled{dropped}'
        return response

    def drop(self, reason: str, text: str) -> None:
        """Count a dropped input and log it, throttled per reason."""
        self.drops.add(reason)
        self.get_logger().warning(f'[{reason}] {text}', throttle_duration_sec=LOG_THROTTLE_SECONDS)

    # ---- the worker: the loop, off the executor's thread -----------------

    def _work(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            try:
                self._serve()
            except Exception as error:  # noqa: B902  (the worker must outlive any one failure)
                self.get_logger().error(f'generator worker: {type(error).__name__}: {error}')
                self._publish_progress(self.trajectories_done, 'failed',
                                       message=f'{type(error).__name__}: {error}')

    def _serve(self) -> None:
        self._add_pending_keyframes()
        with self._lock:
            # A path that arrives before any keyframe (the planner's latched
            # one, or keyframes still in flight from the memory node) waits
            # for the first keyframe instead of being lost.
            if not len(self.session.bank):
                self._report_waiting()
                return
            poses, self._pending_trajectory = self._pending_trajectory, None
        if poses is not None and not self._stopping:
            self._generate(poses)

    def _report_waiting(self) -> None:
        if self._pending_trajectory is None or self._waiting_reported:
            return
        self._waiting_reported = True
        self.get_logger().info('trajectory received before any keyframe: it waits for one')
        self._publish_progress(self.trajectories_done + 1, 'waiting',
                               message='no keyframes yet')

    def _add_pending_keyframes(self) -> None:
        with self._lock:
            views, self._pending_keyframes = self._pending_keyframes, []
        for view in views:
            self.session.add_keyframe(view)

    def _generate(self, poses) -> None:
        trajectory_id = self.trajectories_done + 1
        self.trajectories_done = trajectory_id
        camera = self.session.bank.placements()[-1].camera
        fidelity = self.session.render_fidelity
        loop = ReconstructionLoop(self.session.memory, self.session.bank, self.generator,
                                  self.loop_config, self.gate_config, fidelity)
        measured = ('keyframes not measured yet' if fidelity is None
                    else f'keyframes match the memory renders at {fidelity:.1f} dB')
        self.get_logger().info(f'trajectory {trajectory_id}: generating {len(poses)} views '
                               f'(render check at {loop.required_render_psnr:.1f} dB: '
                               f'{measured})')
        self._cancel.clear()

        def progress(update):
            if self._cancel.is_set() or self._stopping:
                raise GenerationCancelled()
            self._publish_progress(trajectory_id, update.stage, update,
                                   rejected_pixels=loop.gate_counts['pixels_rejected'])
        try:
            loop.run(camera, poses, progress=progress, on_frame=self._publish_frame)
        except GenerationCancelled:
            self.get_logger().info(f'trajectory {trajectory_id} cancelled')
            self._publish_progress(trajectory_id, 'failed', message='cancelled')
        except (ValueError, RuntimeError) as error:
            self.get_logger().error(f'trajectory {trajectory_id} failed: {error}')
            self._publish_progress(trajectory_id, 'failed', message=str(error))

    def _publish_frame(self, frame) -> None:
        if frame.depth is None:
            return   # rejected by the fusion gate: counted in ~/progress, never fused
        stamp = self.get_clock().now().to_msg()
        msg = generated_frame_to_msg(frame, self.frame_id, stamp)
        self.generated_pub.publish(msg)
        self.image_pub.publish(msg.image)
        self.generated_count += 1

    def _publish_progress(self, trajectory_id, stage, update=None, message='',
                          rejected_pixels=0) -> None:
        msg = GenerationProgress()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.frame_id
        msg.trajectory_id = trajectory_id
        msg.stage = stage
        msg.message = message
        msg.generator_trained = self.generator.trained
        if update is not None:
            msg.segment, msg.segments = update.segment, update.segments
            msg.step, msg.steps = update.step, update.steps
            msg.generated_views = update.generated_views
            msg.rejected_views = update.rejected_views
            msg.rejected_pixels = rejected_pixels
        self.progress_pub.publish(msg)

    def destroy_node(self):
        """Stop the worker after its current step, wait for it, and destroy the node.

        Waiting matters: a process that exits while the worker is inside
        torch aborts ("terminate called without an active exception").
        """
        self._stopping = True
        self._cancel.set()
        self._wake.set()
        self._worker.join(timeout=WORKER_STOP_SECONDS)
        if getattr(self, 'session', None) is not None:
            self.session.close()   # deletes the keyframe bank's temporary store
        return super().destroy_node()


def main(args=None):
    """Run the node until shut down (Ctrl-C or SIGTERM)."""
    return run_node(GeneratorNode, args)


if __name__ == '__main__':
    sys.exit(main())
