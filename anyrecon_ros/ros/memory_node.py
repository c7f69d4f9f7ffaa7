# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""memory_node: builds the geometry memory from a camera stream, keyframes and generated views.

Inputs: a camera stream (``image``, ``camera_info``, optional ``depth``) paired
by stamp with a pose (``pose``, ``odom`` or TF), from which keyframes are
selected; ready-made keyframes on ``keyframe``; generated views on
``generated``. Keyframes without depth get it from multi-view stereo against
earlier keyframes. Everything is fused into one GeometryMemory, published as
a cloud (``~/memory``), frustums (``~/markers``) and counters (``~/status``).

The memory, keyframes and map file are one ``core.map_session.MapSession``:
started on an existing map file, the node resumes that map; ``~/save_map``,
``~/load_map``, ``~/reset`` (memory only; saving is then refused until the map
is loaded again, so the stored map is never replaced by an emptier one) and
``~/clear_map`` (memory and file) are one call into it each.

Callbacks convert and validate the message, call the core, publish, and
count what they had to drop, by reason, in ``~/status``.
"""

from collections import Counter
from dataclasses import asdict
import sys
from types import SimpleNamespace

from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.time import Time as RclpyTime
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from sensor_msgs.msg import PointCloud2
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from anyrecon_ros.core.bounded_bank import BankConfig
from anyrecon_ros.core.drop_counter import DropCounter
from anyrecon_ros.core.geometry_memory import CAPTURED
from anyrecon_ros.core.geometry_memory import GENERATED
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_session import MapSession
from anyrecon_ros.core.map_session import MapSessionError
from anyrecon_ros.core.mapping import MappingConfig
from anyrecon_ros.core.stamp_pairing import PairingConfig
from anyrecon_ros.core.stamp_pairing import StampPairer
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.conversions import InvalidKeyframe
from anyrecon_ros.ros.conversions import keyframe_to_view
from anyrecon_ros.ros.conversions import odometry_to_matrix
from anyrecon_ros.ros.conversions import points_to_cloud
from anyrecon_ros.ros.conversions import pose_stamped_to_matrix
from anyrecon_ros.ros.conversions import transform_to_matrix
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.conversions.frame import frame_to_view
from anyrecon_ros.ros.conversions.generated_view import generated_view_to_frame
from anyrecon_ros.ros.conversions.markers import delete_all_markers
from anyrecon_ros.ros.conversions.markers import frustum_markers
from anyrecon_ros.ros.parameters import declare
from anyrecon_ros.ros.parameters import declare_config
from anyrecon_ros.ros.parameters import declare_shared
from anyrecon_ros.ros.qos import KEYFRAME_HISTORY
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import latched_qos
from anyrecon_ros.ros.qos import lossless_qos
from anyrecon_ros.ros.qos import sensor_qos
from anyrecon_ros.ros.qos import service_qos
from anyrecon_ros.ros.qos import status_qos
from anyrecon_ros.ros.run import run_node

# One log line per reason at most this often, so a flood of bad input cannot
# flood the log too.
LOG_THROTTLE_SECONDS = 5.0
POSE_SOURCES = ('pose', 'odom', 'tf')
# Poses come faster than images; the subscription keeps this many.
POSE_QUEUE_DEPTH = 100
TF_POLL_SECONDS = 0.05


class MemoryNode(Node):
    """Fuse keyframes and generated views into the geometry memory and publish it."""

    def __init__(self, **kwargs):
        super().__init__('memory_node', **kwargs)
        # Set first: a failed start-up still destroys the node, which closes the session.
        self.session = None
        self.settings = self._declare_parameters()
        if self.settings.pose_source not in POSE_SOURCES:
            raise ValueError(f'pose_source must be one of {", ".join(POSE_SOURCES)}, got '
                             f'{self.settings.pose_source!r}')
        self.frame_id = self.settings.frame_id
        self.memory_config = self.settings.memory
        self.mapping_config = self.settings.mapping
        self.drops = DropCounter()
        try:
            self.session = MapSession(self.memory_config, self.mapping_config,
                                      self.settings.map_path, on_drop=self.drop,
                                      bank_config=self.settings.bank)
        except MapSessionError as error:
            raise ValueError(str(error)) from None
        parts = ('image', 'camera_info') + (('depth',) if self.settings.use_depth else ())
        self.pairer = StampPairer(parts, self.settings.slop, self.settings.frame_queue_size,
                                  on_drop=self._on_pairing_drop,
                                  part_slop=self.settings.part_slop)
        self.images_received = self.frames_paired = 0
        self._sequences = {}  # (topic, publisher gid) -> last publication sequence number
        self.messages_taken = Counter()  # topic -> messages its callback took
        self.memory_changed = self.markers_changed = True
        self._tf = self._start_tf() if self.settings.pose_source == 'tf' else None
        self._create_interfaces()
        self.get_logger().info(
            f'memory_node: pose from {self.settings.pose_source}, depth '
            f'{"from the depth topic" if self.settings.use_depth else "by stereo"}, map '
            f'{self.settings.map_path or "not stored"}')

    @property
    def memory(self) -> GeometryMemory:
        """Return the geometry memory the node fuses into; ~/reset replaces it."""
        return self.session.memory

    # ---- set-up ----------------------------------------------------------

    def _declare_parameters(self) -> SimpleNamespace:
        """Declare every parameter with its description and range; return their values.

        Memory, mapping, keyframe bank and pairing parameters come from the
        core's config dataclasses (defaults, descriptions and ranges are
        written there); ``memory``, ``mapping`` and ``bank`` are those configs,
        filled.
        """
        d = self
        memory = declare_config(d, MemoryConfig())
        mapping = declare_config(d, MappingConfig())
        bank = declare_config(d, BankConfig())
        pairing = declare_config(d, PairingConfig())
        return SimpleNamespace(
            memory=memory, mapping=mapping, bank=bank, **asdict(memory), **asdict(mapping),
            **asdict(bank), **asdict(pairing),
            frame_id=declare_shared(d, 'frame_id'),
            status_period=declare(d, 'status_period', 1.0, 'Seconds between ~/status messages.',
                                  (0.1, 60.0)),
            pose_source=declare(d, 'pose_source', 'pose', 'Where camera poses come from: pose '
                                '(PoseStamped), odom (Odometry) or tf (needs tf2_ros).'),
            use_depth=declare(d, 'use_depth', True, 'Pair a depth image (16UC1 mm or 32FC1 m) '
                              'with each frame; false estimates depth by multi-view stereo.'),
            sensor_reliable=declare_shared(d, 'sensor_reliable'),
            memory_period=declare(d, 'memory_period', 1.0, 'Seconds between ~/memory clouds at '
                                  'most (only sent when the memory changed).', (0.05, 600.0)),
            memory_max_points=declare(d, 'memory_max_points', 200_000, 'Points in a ~/memory '
                                      'cloud at most (decimated beyond).', (100, 100_000_000)),
            map_path=declare(d, 'map_path', '', 'Map file (SQLite) keyframes and generated views '
                             'are stored in and the memory saved to; empty: none.'),
            keyframe_history=declare(d, 'keyframe_history', KEYFRAME_HISTORY, 'Keyframes '
                                     '~/keyframes keeps for subscribers that start later (a '
                                     'generator node on another machine).', (1, 100000)),
        )

    def _start_tf(self):
        """Listen to TF for camera poses; ValueError when tf2_ros is not installed."""
        try:
            import tf2_ros
        except ImportError as error:
            raise ValueError(f'pose_source tf needs tf2_ros, which is not installed here '
                             f'({error}); use pose_source:=pose or pose_source:=odom') from None
        buffer = tf2_ros.Buffer()
        listener = tf2_ros.TransformListener(buffer, self)
        self.create_timer(TF_POLL_SECONDS, self._poll_tf)
        return SimpleNamespace(module=tf2_ros, buffer=buffer, listener=listener)

    def _create_interfaces(self):
        s = self.settings
        sensor = sensor_qos(reliable=s.sensor_reliable, depth=s.frame_queue_size)
        poses = sensor_qos(reliable=s.sensor_reliable, depth=POSE_QUEUE_DEPTH)
        self.keyframe_pub = self.create_publisher(Keyframe, '~/keyframes',
                                                  keyframe_history_qos(s.keyframe_history))
        self.status_pub = self.create_publisher(MemoryStatus, '~/status', status_qos())
        self.memory_pub = self.create_publisher(PointCloud2, '~/memory', latched_qos())
        self.markers_pub = self.create_publisher(MarkerArray, '~/markers', latched_qos())
        for part, msg_type in (('image', Image), ('camera_info', CameraInfo), ('depth', Image)):
            if part in self.pairer.parts:
                self.create_subscription(
                    msg_type, part, lambda msg, info, part=part: self._take(
                        part, info, self.on_frame_part, part, msg), sensor)
        if s.pose_source == 'pose':
            self.create_subscription(PoseStamped, 'pose', lambda msg, info: self._take(
                'pose', info, self.on_pose, msg), poses)
        elif s.pose_source == 'odom':
            self.create_subscription(Odometry, 'odom', lambda msg, info: self._take(
                'odom', info, self.on_odometry, msg), poses)
        # Keyframes and generated views are never overwritten unread (keep-all,
        # reliable: a busy node holds the publisher back); a loss anyway (a
        # best-effort publisher) is counted from the sequence numbers.
        self.create_subscription(Keyframe, 'keyframe', lambda msg, info: self._take(
            'keyframe', info, self.on_keyframe, msg), lossless_qos())
        self.create_subscription(GeneratedView, 'generated', lambda msg, info: self._take(
            'generated', info, self.on_generated, msg), lossless_qos())
        for name, callback in (('save_map', self.on_save_map), ('load_map', self.on_load_map),
                               ('reset', self.on_reset), ('clear_map', self.on_clear_map)):
            self.create_service(Trigger, f'~/{name}', callback, qos_profile=service_qos())
        self.create_timer(s.status_period, self.publish_status)
        self.create_timer(s.memory_period, self.publish_memory)

    # ---- camera stream ---------------------------------------------------

    def _take(self, topic: str, info: dict, handler, *args) -> None:
        """Count messages lost before this callback, then handle the message.

        A keep-last subscription overwrites what the node had no time to take
        and best-effort transport may lose samples, both silently; each
        publisher numbers its messages, so the gaps are counted as
        ``lost_<topic>``.
        """
        sequence = info.get('publication_sequence_number')
        if sequence:
            publisher = bytes((info.get('publisher_gid') or {}).get('data', b''))
            last = self._sequences.get((topic, publisher))
            if last is not None and sequence > last + 1:
                self.drop(f'lost_{topic}', f'{sequence - last - 1} {topic} message(s) lost before '
                          'the node took them (queue overwritten while busy, or transport)',
                          count=sequence - last - 1)
            self._sequences[(topic, publisher)] = max(sequence, last or 0)
        self.messages_taken[topic] += 1
        handler(*args)

    def on_frame_part(self, part: str, msg) -> None:
        """Queue an image, camera_info or depth image until its frame and pose are complete."""
        self.images_received += part == 'image'
        for frame in self.pairer.add_part(part, _stamp_ns(msg.header.stamp), msg):
            self.on_paired_frame(frame)

    def on_pose(self, msg: PoseStamped) -> None:
        """Pair a camera pose with the frames waiting for it."""
        self._add_pose(msg.header, pose_stamped_to_matrix, msg)

    def on_odometry(self, msg: Odometry) -> None:
        """Pair an odometry pose (of the camera optical frame) with the frames waiting for it."""
        self._add_pose(msg.header, odometry_to_matrix, msg)

    def _add_pose(self, header, to_matrix, msg):
        if header.frame_id != self.frame_id:
            self.drop('unknown_frame', f'dropped pose in frame {header.frame_id!r}: it is not '
                      f'the fixed frame {self.frame_id!r}')
            return
        try:
            frames = self.pairer.add_pose(_stamp_ns(header.stamp), to_matrix(msg))
        except ValueError as error:
            self.drop('bad_pose', f'dropped pose: {error}')
            return
        for frame in frames:
            self.on_paired_frame(frame)

    def _poll_tf(self):
        """Look up TF for the frames waiting for a pose."""
        tf = self._tf
        for stamp_ns, parts in self.pairer.waiting():
            try:
                transform = tf.buffer.lookup_transform(
                    self.frame_id, parts['image'].header.frame_id,
                    RclpyTime(nanoseconds=stamp_ns))
            except tf.module.TransformException:
                continue  # not there yet; the frame waits, or the queue drops it
            for frame in self.pairer.add_pose(stamp_ns, transform_to_matrix(transform)):
                self.on_paired_frame(frame)

    def on_paired_frame(self, frame) -> None:
        """Turn a paired frame into a keyframe if the selector wants it."""
        self.frames_paired += 1
        try:
            view = frame_to_view(frame.parts, frame.camera_to_world, frame.stamp_ns,
                                 self.session.next_id)
        except InvalidKeyframe as error:
            self.drop(error.reason, f'dropped frame at {frame.stamp_ns} ns: {error}')
            return
        keyframe = self.session.add_frame(view)
        if keyframe is not None:
            self._keyframe_added(keyframe)

    def _on_pairing_drop(self, reason, stamp_ns):
        self.drop(reason, f'dropped camera frame or part at {stamp_ns} ns')

    # ---- keyframes -------------------------------------------------------

    def on_keyframe(self, msg: Keyframe) -> None:
        """Validate a ready-made keyframe and add it (no selection)."""
        try:
            view = keyframe_to_view(msg, self.frame_id)
        except InvalidKeyframe as error:
            self.drop(error.reason, f'dropped keyframe {msg.id}: {error}')
            return
        keyframe = self.session.add_keyframe(view)
        if keyframe is not None:
            self._keyframe_added(keyframe)

    def _keyframe_added(self, view: CaptureView) -> None:
        """Publish a keyframe the session fused and stored, with the depth it used."""
        self.keyframe_pub.publish(view_to_keyframe(view, self.frame_id, _stamp(view.stamp_ns)))
        self.memory_changed = self.markers_changed = True
        self.get_logger().info(
            f'keyframe {view.view_id} stored ({len(self.session.bank)} in the bank, '
            f'{"no" if view.depth is None else "with"} depth, {len(self.memory)} points)')

    # ---- generated views -------------------------------------------------

    def on_generated(self, msg: GeneratedView) -> None:
        """Fuse a generated view's depth (with less weight than captured data) and store it."""
        try:
            frame = generated_view_to_frame(msg, self.frame_id)
        except InvalidKeyframe as error:
            self.drop(error.reason, f'dropped generated view {msg.segment_id}/{msg.index}: '
                      f'{error}')
            return
        if self.session.add_generated(frame):
            self.memory_changed = self.markers_changed = True

    # ---- the map file ----------------------------------------------------

    def on_save_map(self, request, response):
        """Save the memory to the map file (keyframes and generated views are already there)."""
        return self._call_session(response, self.session.save)

    def on_load_map(self, request, response):
        """Replace the memory, keyframes and generated views with the map file's."""
        return self._call_session(response, self.session.load, clears_queue=True)

    def on_reset(self, request, response):
        """Forget the memory, keyframes, generated views and queued frames (not the map file)."""
        return self._call_session(response, self.session.reset, clears_queue=True)

    def on_clear_map(self, request, response):
        """Like ~/reset, and also delete everything the map file holds."""
        return self._call_session(response, lambda: self.session.reset(clear_map=True),
                                  clears_queue=True)

    def _call_session(self, response, call, clears_queue=False):
        """Answer a service with one call into the session; a refusal changes nothing."""
        try:
            message = call()
        except MapSessionError as error:
            return _respond(response, False, str(error))
        if clears_queue:
            self._clear_queue()
        self.memory_changed = self.markers_changed = True
        return _respond(response, True, message)

    def _clear_queue(self):
        """Forget the frames waiting for parts or poses, counting them."""
        if self.pairer.pending:
            self.drop('reset', f'{self.pairer.pending} waiting frame(s) cleared by a reset or '
                      'load', count=self.pairer.pending)
        self.pairer.clear()

    def destroy_node(self):
        """Save the memory to the map file (unless that would lose stored geometry), close it.

        Without a map file, the keyframe bank's temporary store is deleted.
        """
        if self.session is not None:
            has_map = self.session.store is not None
            text = self.session.close()
            if has_map:
                self._report_at_exit(text)
        return super().destroy_node()

    def _report_at_exit(self, text):
        # After a signal the context is already shut down, and the logger's
        # /rosout publisher with it: print rather than log an error about rosout.
        if self.context.ok():
            self.get_logger().info(text)
        else:
            print(f'[memory_node] {text}', file=sys.stderr)

    # ---- output ----------------------------------------------------------

    def drop(self, reason: str, text: str, count: int = 1) -> None:
        """Count ``count`` dropped inputs and log it, throttled per reason."""
        self.drops.add(reason, count)
        self.get_logger().warning(f'[{reason}] {text}', throttle_duration_sec=LOG_THROTTLE_SECONDS)

    def publish_memory(self) -> None:
        """Publish the (decimated) memory cloud and the frustums, if they changed."""
        stamp = self.get_clock().now().to_msg()
        if self.memory_changed:
            xyz, rgb = self.memory.decimated(self.settings.memory_max_points)
            cloud = points_to_cloud(xyz, rgb)
            cloud.header.frame_id, cloud.header.stamp = self.frame_id, stamp
            self.memory_pub.publish(cloud)
            self.memory_changed = False
        if self.markers_changed:
            # DELETEALL first: the latched array alone rebuilds RViz's view.
            markers = delete_all_markers(self.frame_id)
            # Placements: poses and intrinsics, no image read back from the map.
            markers.markers += frustum_markers(self.session.bank.placements(),
                                               self.session.generated, self.frame_id,
                                               stamp).markers
            self.markers_pub.publish(markers)
            self.markers_changed = False

    def publish_status(self) -> None:
        """Publish the memory's counters."""
        status = MemoryStatus()
        status.header.stamp = self.get_clock().now().to_msg()
        status.header.frame_id = self.frame_id
        status.captured_points = self.memory.count(CAPTURED)
        status.generated_points = self.memory.count(GENERATED)
        status.keyframe_count = len(self.session.bank)
        status.generated_view_count = self.session.generated_views_fused
        status.images_received = self.images_received
        status.frames_paired = self.frames_paired
        status.frames_waiting = self.pairer.pending
        low, high = self.memory.bounds()
        status.bounds_min.x, status.bounds_min.y, status.bounds_min.z = (float(v) for v in low)
        status.bounds_max.x, status.bounds_max.y, status.bounds_max.z = (float(v) for v in high)
        reasons = self.drops.items()
        status.drop_reasons = [reason for reason, _ in reasons]
        status.drop_counts = [count for _, count in reasons]
        self.status_pub.publish(status)


def _stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _stamp(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def _respond(response, success: bool, message: str):
    response.success, response.message = success, message
    return response


def main(args=None):
    """Run the node until shut down (Ctrl-C or SIGTERM)."""
    return run_node(MemoryNode, args)


if __name__ == '__main__':
    sys.exit(main())
