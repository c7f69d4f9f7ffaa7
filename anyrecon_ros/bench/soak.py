# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Sustained load on memory_node: a 640x480 RGB-D stream at 30 Hz for minutes (``run_soak``).

The real memory_node runs, unchanged, in a child process
(``child_process.start_module``), so its resident set is its own: VmRSS is
read from /proc every second, and its peak (VmHWM) is written at exit. This
process plays the camera driver and the odometry: 640x480 rgb8 images, 16UC1
depth (mm), camera_info and a PoseStamped per frame, best effort, at a fixed
rate. The frames are a loop of the procedural scene rendered once beforehand
(a render takes about 0.2 s on the 2-core reference machine, far too slow
for 30 Hz). Each lap of the loop moves the whole camera path by another
offset, ``pose_variants`` of them before the pattern repeats, so keyframes
are selected for several laps and the memory fills past its point cap (the
shifted copies of the scene are new voxels) and evicts.

Every keyframe stays in the node's bank, its image and depth (about 2.1 MiB
at 640x480) in RAM up to ``keyframe_ram_mib`` (beyond it, in the node's
temporary store: ``anyrecon bench --long`` measures that), and the last 100
in ``~/keyframes``'s history. The pattern repeats, and once every pose of it
is a keyframe the node only pairs and rejects frames. To keep selection and
fusion going for the whole run, ``~/reset`` is called every
``reset_period_s`` (the map is forgotten and built again from the stream).

Everything about the node is learned from outside, from what it publishes:

- ``~/status``: points, keyframes held, drops by reason, and the node's own
  counts of the camera stream: ``images_received`` (image messages its
  callback took), ``frames_paired`` (frames paired with their parts and a
  pose) and ``frames_waiting`` (frames waiting for a part or a pose now).
  Among the drops, ``lost_<topic>`` are the messages lost before its
  callbacks (the gaps in each publisher's sequence numbers: a best-effort
  sample lost in transport, or one overwritten in a KEEP_LAST queue while
  the node was busy); ``queue_full``, ``no_pose`` and ``reset`` (the waiting
  frames a reset forgot) are frames the pairer dropped.
- ``~/keyframes``: every keyframe selected, each compared with the frame
  sent at its stamp (image, depth and pose: a depth or pose paired from
  another frame shows).

The images are accounted for from two sources that do not derive from each
other (``image_accounting``, on the last status once the stream has
drained):

- what was sent against what the node took: the images this process sent
  (counted here) are the node's ``images_received`` plus its ``lost_image``.
  A loss after the last message the node took leaves no gap and goes
  uncounted (``images_lost_uncounted``: the node's KEEP_LAST queue keeps the
  newest message, so only the last one sent, lost in transport, can be);
- what the node took against what became of it: ``images_received`` is
  ``frames_paired`` plus the frames the pairer dropped (``FRAME_DROPS``: a
  frame is made when its image arrives, so each such drop is one image) plus
  ``frames_waiting``. What is left over is ``images_unaccounted``, which
  must be 0; every status is such a snapshot, as the node makes it in one
  callback.

Only images are counted on the node's side: for depth, camera_info and pose
what the node received is still what was sent less its ``lost_<topic>``.
Earlier the soak called ``~/reset`` once more after the stream, only to learn
the frames still waiting from the ``reset`` drops it counted; the node's
``frames_waiting`` says so directly, so there is no final reset.
"""

import math
from pathlib import Path
import tempfile
import time

from geometry_msgs.msg import PoseStamped
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from anyrecon_ros.bench.child_process import cpu_seconds
from anyrecon_ros.bench.child_process import kill
from anyrecon_ros.bench.child_process import read_peak_mib
from anyrecon_ros.bench.child_process import ros_environment
from anyrecon_ros.bench.child_process import RSS_COLUMNS
from anyrecon_ros.bench.child_process import rss_sample
from anyrecon_ros.bench.child_process import start_module
from anyrecon_ros.bench.child_process import stop
from anyrecon_ros.bench.child_process import tail
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.stamp_pairing import INCOMPLETE
from anyrecon_ros.core.stamp_pairing import NO_POSE
from anyrecon_ros.core.stamp_pairing import QUEUE_FULL
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.conversions import array_to_image
from anyrecon_ros.ros.conversions import camera_to_camera_info
from anyrecon_ros.ros.conversions import depth_to_metres
from anyrecon_ros.ros.conversions import matrix_to_pose
from anyrecon_ros.ros.conversions import pose_to_matrix
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import sensor_qos
from anyrecon_ros.ros.qos import status_qos

NODE_MODULE = 'anyrecon_ros.ros.memory_node'
NODE = '/memory_node'
# Topic (as the node resolves it) -> the name the figures use.
STREAM_TOPICS = {'/image': 'image', '/camera_info': 'camera_info', '/depth': 'depth',
                 '/pose': 'pose'}
FIXED_FRAME, CAMERA_FRAME = 'map', 'camera_optical_frame'
# The drop reason the node counts waiting frames a reset forgot under.
RESET = 'reset'
LOST_IMAGE = 'lost_image'
# The drops that each take one frame before it is paired, and so one image the
# node took (the image is the frame's anchor: a frame is made when it arrives):
# a waiting frame pushed out of a full queue, a complete frame with no pose in
# reach, the waiting frames a reset (or map load) forgot, and an incomplete
# frame at a flush (bags only). Not among them: ``unmatched_<part>``, a loose
# depth or camera_info that found no image; and the drops of a frame after it
# was paired (a bad encoding, say), which frames_paired already counts.
FRAME_DROPS = (QUEUE_FULL, NO_POSE, RESET, INCOMPLETE)

DEFAULT_MAX_POINTS = 300_000
# Rendered frames in the loop; the camera path turns 360 / LOOP_FRAMES degrees a frame.
LOOP_FRAMES = 24
# Offsets of the camera path, one per lap, before the pattern repeats: about 110
# keyframes in all with the node's default selection (each holds ~2.1 MiB).
POSE_VARIANTS = 8
# Seconds between ~/reset calls: the keyframes of every pose variant are
# selected and fused again after each (about 15 s of fusion at 8 variants).
RESET_PERIOD_S = 60.0
STATUS_PERIOD_S = 1.0
RSS_PERIOD_S = 1.0
# Seconds the node may take to start and match the stream's topics.
START_TIMEOUT_S = 90.0
# Then a moment more before the stream: the node's readers match this process's
# writers on its side, possibly a little after these saw them, and a message
# lost before the first one it takes leaves no gap in the sequence it counts.
MATCH_GRACE_S = 1.0
# After the stream: time for the node to drain its queues and report once more.
SETTLE_S = 3.0
MAX_SETTLE_S = 15.0
STOP_TIMEOUT_S = 20.0
# The achieved rate counts as kept at this share of the requested one.
RATE_KEPT_SHARE = 0.95
# A publisher more than this far behind its schedule gives up on catching up.
MAX_LAG_S = 0.5
# A keyframe holds another frame's depth where more than DEPTH_MISMATCH_SHARE of
# its pixels differ from the depth sent at its stamp by more than DEPTH_MATCH_M
# (metres): neighbouring frames of the loop differ in almost every pixel.
DEPTH_MATCH_M = 0.01
DEPTH_MISMATCH_SHARE = 0.01
# ... or another frame's pose beyond this (metres and rotation-matrix entries).
POSE_MATCH = 1e-4


# ---- the stream ------------------------------------------------------------


class LoopFrames:
    """A loop of rendered frames as ready-made messages, and the camera path offsets."""

    def __init__(self, frames: int = LOOP_FRAMES, pose_variants: int = POSE_VARIANTS,
                 seed: int = 0):
        if frames < 2 or pose_variants < 0:
            raise ValueError('need at least 2 loop frames and pose_variants >= 0')
        start = time.monotonic()
        scene, camera = ProceduralScene(seed=seed), default_camera()
        self.poses = scene.camera_path(frames)
        self.messages = []
        for pose in self.poses:
            rgb, depth = scene.render(camera, pose)
            millimetres = np.nan_to_num(depth * 1000.0).round().clip(0, 65535).astype(np.uint16)
            self.messages.append((array_to_image(rgb, 'rgb8'),
                                  camera_to_camera_info(camera),
                                  array_to_image(millimetres, '16UC1')))
        self.pose_variants = pose_variants
        self.render_s = time.monotonic() - start
        self.image_bytes = len(self.messages[0][0].data)
        self.depth_bytes = len(self.messages[0][2].data)

    def __len__(self):
        return len(self.poses)

    def frame(self, index: int):
        """Return (image, camera_info, depth, camera_to_world) of frame ``index`` of the stream."""
        lap, position = divmod(index, len(self))
        variant = lap % self.pose_variants if self.pose_variants else lap
        image, info, depth = self.messages[position]
        return image, info, depth, lap_offset(variant) @ self.poses[position]


def lap_offset(variant: int) -> np.ndarray:
    """Return the translation (4x4) that moves the camera path on lap ``variant``.

    Variants 0-7 are the corners of a 0.5 x 0.5 x 0.4 m box; higher ones step
    1 m further along x every 8 (new ground for ever).
    """
    offset = np.eye(4)
    offset[:3, 3] = ((variant % 2) * 0.5 + (variant // 8) * 1.0, ((variant // 2) % 2) * 0.5,
                     ((variant // 4) % 2) * 0.4)
    return offset


# ---- the run ---------------------------------------------------------------


def run_soak(duration_s: float, rate_hz: float = 30.0, max_points: int = DEFAULT_MAX_POINTS,
             reset_period_s: float = RESET_PERIOD_S, loop_frames: int = LOOP_FRAMES,
             pose_variants: int = POSE_VARIANTS, frame_queue_size: int = 10,
             node_parameters: dict = None, log_path: Path = None) -> dict:
    """Stream 640x480 RGB-D at ``rate_hz`` into memory_node (a child process) for ``duration_s``.

    Every ``reset_period_s`` (0: never) the node's ``~/reset`` is called, so
    keyframes are selected and fused, and the point cap enforced, all through
    the run rather than only until every pose of the stream is a keyframe.
    Return the figures (see ``soak_table``): frames sent and the rate
    achieved, what the node received, lost before its callbacks, paired,
    dropped by reason (last status) and kept as keyframes, points against
    ``max_points``, and the node's resident set over time with its growth
    over the last half of the stream. ``node_parameters`` overrides or adds
    memory_node parameters; the node's output goes to ``log_path`` (a
    temporary file otherwise). The child is always stopped. Raises
    RuntimeError, with the end of the node's output, when the node does not
    start.
    """
    frames = LoopFrames(loop_frames, pose_variants)
    parameters = {'max_points': int(max_points), 'frame_queue_size': int(frame_queue_size),
                  'status_period': STATUS_PERIOD_S}
    parameters.update(node_parameters or {})
    with tempfile.TemporaryDirectory(prefix='anyrecon_soak_') as folder, ros_environment():
        log_path = Path(log_path) if log_path else Path(folder) / 'memory_node.log'
        peak_path = Path(folder) / 'memory_node.peak'
        arguments = [part for name, value in parameters.items()
                     for part in ('-p', f'{name}:={_parameter_text(value)}')]
        child = start_module(NODE_MODULE, ['--ros-args', *arguments], log_path, peak_path)
        try:
            with _Stream(child, frames, log_path) as stream:
                stream.connect()
                stream.run(duration_s, rate_hz, reset_period_s)
                stream.settle()
                figures = stream.figures()
            figures['exit_code'] = stop(child, STOP_TIMEOUT_S)
        finally:
            kill(child)
        figures['vmhwm_mib'] = read_peak_mib(peak_path)
        figures['log_tail'] = '' if figures['alive'] else tail(log_path)
    figures.update(duration_s=float(duration_s), rate_hz=float(rate_hz),
                   reset_period_s=float(reset_period_s), max_points=int(max_points),
                   node_parameters=parameters, loop_frames=len(frames),
                   pose_variants=pose_variants, render_s=frames.render_s,
                   image_bytes=frames.image_bytes, depth_bytes=frames.depth_bytes)
    return _summarise(figures)


def _parameter_text(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


class _Stream:
    """This process's side of a soak: the camera, the reset calls and what the node publishes."""

    def __init__(self, child, frames, log_path):
        self.child, self.frames, self.log_path = child, frames, log_path
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.node = rclpy.create_node('soak_camera', context=self.context)
        self.executor.add_node(self.node)
        qos = sensor_qos(reliable=False, depth=2)
        self.publishers = {
            'image': self.node.create_publisher(Image, 'image', qos),
            'camera_info': self.node.create_publisher(CameraInfo, 'camera_info', qos),
            'depth': self.node.create_publisher(Image, 'depth', qos),
            'pose': self.node.create_publisher(PoseStamped, 'pose', qos)}
        self.statuses = []
        self.node.create_subscription(
            MemoryStatus, f'{NODE}/status',
            lambda msg: self.statuses.append((time.monotonic(), msg)), status_qos())
        self.keyframes = self.node.create_subscription(
            Keyframe, f'{NODE}/keyframes', self._on_keyframe, keyframe_history_qos())
        self.keyframe_ids, self.mismatched = set(), 0
        self.reset = self.node.create_client(Trigger, f'{NODE}/reset')
        self.resets = []
        self.sent_at = {}  # stamp (ns) -> index of the frame sent with it
        self.rss = []
        self.sent = self.late = self.slips = 0
        self.start = self.stream_s = None
        self.next_rss = self.cpu_start = self.publisher_cpu_share = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.executor.shutdown()
        rclpy.shutdown(context=self.context)

    def _spin_until(self, condition, timeout) -> bool:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline and self.child.poll() is None:
            self.executor.spin_once(timeout_sec=0.05)
            self._sample_rss()
        return condition()

    def _sample_rss(self) -> None:
        """Sample the node's resident set if it is time to (every RSS_PERIOD_S)."""
        now = time.monotonic()
        if self.start is None or now < self.next_rss:
            return
        sample = rss_sample(self.child.pid, now - self.start)
        if sample is not None:
            self.rss.append(sample)
        self.next_rss = max(self.next_rss + RSS_PERIOD_S, now)

    def _on_keyframe(self, msg) -> None:
        """Count a keyframe the node selected, and whether it holds the frame sent at its stamp."""
        if msg.id in self.keyframe_ids:
            return  # the same keyframe again (the history is transient local)
        self.keyframe_ids.add(msg.id)
        index = self.sent_at.get(_stamp_ns(msg.header.stamp))
        self.mismatched += index is None or not _same_frame(msg, self.frames.frame(index))

    def connect(self) -> None:
        """Wait until the node subscribes to every stream topic and reports; else RuntimeError."""
        def ready():
            return bool(self.statuses) and self.reset.service_is_ready() \
                and self.keyframes.get_publisher_count() > 0 \
                and all(p.get_subscription_count() > 0 for p in self.publishers.values())
        if not self._spin_until(ready, START_TIMEOUT_S):
            raise RuntimeError(f'memory_node did not start and subscribe within '
                               f'{START_TIMEOUT_S:.0f} s (exit code {self.child.poll()}):\n'
                               f'{tail(self.log_path)}')
        grace_end = time.monotonic() + MATCH_GRACE_S
        self._spin_until(lambda: time.monotonic() >= grace_end, MATCH_GRACE_S + 1.0)

    def run(self, duration_s, rate_hz, reset_period_s) -> None:
        """Publish frames on schedule for ``duration_s``, calling ~/reset every period."""
        self.start = self.next_rss = time.monotonic()
        self._sample_rss()
        self.cpu_start = cpu_seconds(self.child.pid)
        own_cpu_start = time.process_time()
        period, end = 1.0 / rate_hz, self.start + duration_s
        next_frame = self.start
        next_reset = self.start + reset_period_s if reset_period_s > 0 else math.inf
        while self.child.poll() is None:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_frame:
                stamp_ns = _publish(self.node, self.publishers, self.frames.frame(self.sent))
                self.sent_at[stamp_ns] = self.sent
                self.sent += 1
                self.late += now - next_frame > period
                next_frame += period
                if now - next_frame > MAX_LAG_S:
                    self.slips += 1
                    next_frame = now
            if now >= next_reset:
                self.resets.append(self.reset.call_async(Trigger.Request()))
                next_reset += reset_period_s
            self._sample_rss()
            self.executor.spin_once(
                timeout_sec=max(0.0, min(next_frame, self.next_rss) - time.monotonic()))
        self.stream_s = time.monotonic() - self.start
        self.publisher_cpu_share = (time.process_time() - own_cpu_start) / self.stream_s

    def settle(self) -> None:
        """Let the node drain its queues: its last status then counts the whole stream.

        Drained: SETTLE_S at least, and two reports after the stream that
        agree (the images taken, frames paired and waiting included).
        """
        settle_start, stream_end = time.monotonic(), self.start + self.stream_s

        def settled():
            recent = [_report(msg) for t, msg in self.statuses[-2:] if t > stream_end]
            return time.monotonic() - settle_start >= SETTLE_S and len(recent) == 2 and (
                recent[0] == recent[1])
        self._spin_until(settled, MAX_SETTLE_S)

    def figures(self) -> dict:
        """Return what was sent and measured, and what the node published."""
        wall = time.monotonic() - self.start
        alive = self.child.poll() is None
        node_cpu = cpu_seconds(self.child.pid) - self.cpu_start if alive else math.nan
        return {'stream_s': self.stream_s, 'frames_sent': self.sent, 'late_frames': self.late,
                'schedule_slips': self.slips, 'publisher_cpu_share': self.publisher_cpu_share,
                'node_cpu_share': node_cpu / wall, 'alive': alive, 'rss': self.rss,
                'resets_called': len(self.resets),
                'resets_done': sum(1 for future in self.resets if future.done()
                                   and future.result() is not None
                                   and future.result().success),
                'statuses': [_status_figures(t - self.start, msg) for t, msg in self.statuses
                             if t >= self.start],
                'keyframes_ever': len(self.keyframe_ids),
                'mismatched_frames': self.mismatched}


def _publish(node, publishers, frame) -> int:
    """Publish one frame on every topic with one stamp (now), as a driver would; return it."""
    image, info, depth, camera_to_world = frame
    stamp = node.get_clock().now().to_msg()
    optical = Header(stamp=stamp, frame_id=CAMERA_FRAME)
    image.header = info.header = depth.header = optical
    publishers['image'].publish(image)
    publishers['camera_info'].publish(info)
    publishers['depth'].publish(depth)
    publishers['pose'].publish(PoseStamped(header=Header(stamp=stamp, frame_id=FIXED_FRAME),
                                           pose=matrix_to_pose(camera_to_world)))
    return _stamp_ns(stamp)


def _same_frame(keyframe, frame) -> bool:
    """Return whether a keyframe holds the image, depth and pose of ``frame`` (as sent)."""
    image, _, depth, camera_to_world = frame
    if bytes(keyframe.image.data) != bytes(image.data):
        return False
    if keyframe.has_depth:
        held, sent = depth_to_metres(keyframe.depth), depth_to_metres(depth)
        if held.shape != sent.shape:
            return False
        both = np.isfinite(held) & np.isfinite(sent)
        differ = np.abs(held[both] - sent[both]) > DEPTH_MATCH_M
        if not both.any() or differ.mean() > DEPTH_MISMATCH_SHARE:
            return False
    return bool(np.abs(pose_to_matrix(keyframe.pose) - camera_to_world).max() <= POSE_MATCH)


def _stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _drops(msg) -> dict:
    return dict(zip(msg.drop_reasons, (int(c) for c in msg.drop_counts)))


def _report(msg) -> tuple:
    """Return what a status says (without its stamp), to tell whether the node is still busy."""
    return (msg.captured_points, msg.generated_points, msg.keyframe_count,
            msg.images_received, msg.frames_paired, msg.frames_waiting,
            sorted(_drops(msg).items()))


def _status_figures(t, msg) -> dict:
    return {'t': round(t, 2), 'points': msg.captured_points + msg.generated_points,
            'keyframes': msg.keyframe_count, 'images_received': msg.images_received,
            'frames_paired': msg.frames_paired, 'frames_waiting': msg.frames_waiting,
            'drops': _drops(msg)}


# ---- figures ---------------------------------------------------------------


def rss_growth(samples, stream_s: float, fraction: float, column: int = 1) -> dict:
    """Return how the resident set grew over the last ``fraction`` of the stream.

    ``samples`` are rows of RSS_COLUMNS; ``column`` picks the figure (VmRSS by
    default). ``growth_mib`` is how far the window's highest sample lies above
    the highest one before it: a leak shows as a new high, while the rise and
    fall of each reset cycle do not count. ``rise_mib`` is the window's
    highest sample less its first; ``slope_mib_per_min`` is the least-squares
    slope over the window.
    """
    begin = stream_s * (1.0 - fraction)
    window = [s[column] for s in samples if begin <= s[0] <= stream_s]
    before = [s[column] for s in samples if s[0] < begin]
    if len(window) < 2 or not before:
        return {'samples': len(window), 'growth_mib': math.nan, 'rise_mib': math.nan,
                'slope_mib_per_min': math.nan}
    t = np.array([s[0] for s in samples if begin <= s[0] <= stream_s])
    rss = np.array(window)
    slope = np.polyfit(t, rss, 1)[0] * 60.0 if np.ptp(t) > 0 else math.nan
    return {'samples': len(window), 'start_s': float(t[0]), 'end_s': float(t[-1]),
            'growth_mib': float(rss.max() - max(before)), 'rise_mib': float(rss.max() - rss[0]),
            'slope_mib_per_min': float(slope)}


def image_accounting(images_sent: int, images_received: int, frames_paired: int,
                     frames_waiting: int, drops: dict) -> dict:
    """Set what the soak sent against what the node counted, image by image.

    ``images_sent`` is counted by the soak; the rest is one ``~/status`` of
    the node (``drops``: reason -> count). Return

    - ``images_lost_uncounted``: images sent that the node neither took
      (``images_received``) nor counted as ``lost_image``: 0 unless the last
      image sent was lost (a loss after the last message taken leaves no
      gap), never negative;
    - ``frames_dropped_unpaired``: the drops of ``FRAME_DROPS`` by reason, each
      a frame and so an image the node took and never paired;
    - ``images_unaccounted``: images the node took that are neither paired,
      nor dropped so, nor waiting (0 when the node's counts agree).
    """
    dropped = {reason: drops[reason] for reason in FRAME_DROPS if drops.get(reason)}
    return {'images_lost_uncounted': images_sent - images_received - drops.get(LOST_IMAGE, 0),
            'frames_dropped_unpaired': dropped,
            'images_unaccounted': images_received - frames_paired - sum(dropped.values())
            - frames_waiting}


def _summarise(figures: dict) -> dict:
    """Add the derived figures: rates, losses, accounting, cap and resident-set plateau."""
    sent, statuses = figures['frames_sent'], figures['statuses']
    last = statuses[-1] if statuses else {'points': 0, 'keyframes': 0, 'images_received': 0,
                                          'frames_paired': 0, 'frames_waiting': 0, 'drops': {}}
    drops = last['drops']
    missing = {name: drops.get(f'lost_{name}', 0) for name in STREAM_TOPICS.values()}
    # Images as the node counted them; the other topics it does not count, so
    # for them what it received is what was sent less what it counted lost.
    received = {name: sent - count for name, count in missing.items()}
    received['image'] = last['images_received']
    paired, pending = last['frames_paired'], last['frames_waiting']
    accounting = image_accounting(sent, received['image'], paired, pending, drops)
    rss = figures['rss']
    points_seen = [s['points'] for s in statuses]
    figures.update(
        achieved_rate_hz=sent / figures['stream_s'] if figures['stream_s'] else 0.0,
        received=received,
        lost_before_callback={name: sent - count for name, count in received.items()},
        missing_by_sequence=missing,
        frames_paired=paired, frames_pending=pending,
        discarded_by_reset=drops.get(RESET, 0),
        keyframes_max_seen=max((s['keyframes'] for s in statuses), default=0),
        **accounting,
        keyframes=last['keyframes'], drops=drops, drops_total=sum(drops.values()),
        points_last=last['points'], points_max_seen=max(points_seen, default=0),
        rss_start_mib=rss[0][1] if rss else math.nan,
        rss_end_mib=rss[-1][1] if rss else math.nan,
        rss_peak_mib=max((s[1] for s in rss), default=math.nan),
        rss_columns=list(RSS_COLUMNS),
        rss_last_half=rss_growth(rss, figures['stream_s'], 0.5),
        rss_anon_last_half=rss_growth(rss, figures['stream_s'], 0.5, column=2),
        rss_last_third=rss_growth(rss, figures['stream_s'], 1.0 / 3.0))
    figures['rate_kept'] = figures['achieved_rate_hz'] >= RATE_KEPT_SHARE * figures['rate_hz']
    figures['cap_respected'] = figures['points_max_seen'] <= figures['max_points']
    figures['cap_reached'] = figures['points_max_seen'] >= 0.99 * figures['max_points']
    if sent:
        # Per frame: a lost image also loses its depth and camera_info, each
        # counted under its own reason, so drops_total counts frames up to 3 times.
        figures['drop_rate'] = figures['unpaired_rate'] = (sent - paired) / sent
        figures['loss_before_callback_rate'] = figures['lost_before_callback']['image'] / sent
    else:
        for name in ('drop_rate', 'unpaired_rate', 'loss_before_callback_rate'):
            figures[name] = math.nan
    return figures


def soak_table(figures: dict) -> list:
    """Return the soak section as markdown lines: blank, a heading, blank, then a table."""
    f = figures
    rate_note = ('kept' if f['rate_kept'] else
                 f'NOT kept: this machine published only {f["achieved_rate_hz"]:.1f} Hz')
    lost = f['lost_before_callback']
    half, anon = f['rss_last_half'], f['rss_anon_last_half']
    cap_note = 'respected' if f['cap_respected'] else 'EXCEEDED'
    reset_note = (f'~/reset every {f["reset_period_s"]:.0f} s, {f["resets_done"]} done'
                  if f['reset_period_s'] > 0 else 'no reset')
    drops = ', '.join(f'{reason} {count}' for reason, count in sorted(f['drops'].items()))
    rows = [
        ('stream', f'{f["stream_s"]:.0f} s, {f["frames_sent"]} frames of 640x480 rgb8 + 16UC1 '
                   f'depth + camera_info + PoseStamped'),
        ('rate achieved', f'{f["achieved_rate_hz"]:.2f} Hz of {f["rate_hz"]:.0f} Hz '
                          f'({rate_note}; {f["late_frames"]} frames late)'),
        ('images received by the node', f'{f["received"]["image"]} ({lost["image"]} lost '
                                        f'before its callback, '
                                        f'{100 * f["loss_before_callback_rate"]:.1f} %; '
                                        f'{f["missing_by_sequence"]["image"]} of them counted '
                                        'by the node in lost_image)'),
        ('frames paired', f'{f["frames_paired"]} ({f["frames_pending"]} waiting at the end; '
                          f'{f["images_unaccounted"]} images received neither paired, '
                          f'dropped nor waiting; {f["mismatched_frames"]} keyframes with '
                          'parts of other frames)'),
        ('keyframes: selected in all / most at once', f'{f["keyframes_ever"]} / '
                                                      f'{f["keyframes_max_seen"]} '
                                                      f'({reset_note})'),
        ('drops counted by the node', drops or 'none'),
        ('frame drop rate (frames not paired / sent)', f'{100 * f["drop_rate"]:.1f} %'),
        ('points in memory, max seen / cap', f'{f["points_max_seen"]} / {f["max_points"]} '
                                             f'({cap_note})'),
        ('node resident set: start / peak / end', f'{f["rss_start_mib"]:.0f} / '
                                                  f'{f["rss_peak_mib"]:.0f} / '
                                                  f'{f["rss_end_mib"]:.0f} MiB (VmHWM '
                                                  f'{f["vmhwm_mib"]:.0f} MiB)'),
        ('resident set growth, last half (above the peak before it)',
         f'{half["growth_mib"]:+.1f} MiB (slope {half["slope_mib_per_min"]:+.1f} MiB/min; '
         f'heap (RssAnon) {anon["growth_mib"]:+.1f} MiB)'),
        ('node CPU', f'{100 * f["node_cpu_share"]:.0f} % of one core (publisher '
                     f'{100 * f["publisher_cpu_share"]:.0f} %)'),
        ('node alive at the end', 'yes' if f['alive'] else f'NO (exit code {f["exit_code"]})'),
    ]
    return ['', f'Memory node soak: a {f["rate_hz"]:.0f} Hz RGB-D stream for '
            f'{f["duration_s"]:.0f} s (memory_node in a child process, max_points '
            f'{f["max_points"]}, {f["loop_frames"]} rendered frames x {f["pose_variants"]} '
            'path offsets; resident set = VmRSS from /proc every second):', '',
            '| figure | value |', '|---|---|'] + [f'| {name} | {value} |' for name, value in rows]
