# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pair camera frames with poses by stamp, without blocking, as the live node and a bag reader do.

A frame is made of named parts that share one stamp, give or take ``slop``
(an image, its camera_info, optionally a depth image); the first part named
is the anchor whose stamp the frame takes. Parts may arrive in any order.
A complete frame then waits for its pose, as nvblox waits for TF: it is
released once a pose at or after its stamp is known, with the pose
interpolated between the two poses around its stamp when both lie within
``slop``, else the nearest one within ``slop``; with none in reach it is
dropped as ``no_pose``. Frames and parts may come in any order; poses are
expected in stamp order (a pose that arrives after a later one still serves
frames not yet released, but a released frame is not paired again).

Nothing blocks and nothing grows without bound: at most ``queue_size``
frames wait (the oldest is dropped as ``queue_full`` to make room), at most
``queue_size`` unmatched parts of each kind are kept (``unmatched_<part>``),
and the last ``max_poses`` poses are remembered. Every drop is counted in
``drops`` and reported to ``on_drop``.

Usage::

    pairer = StampPairer(parts=('image', 'camera_info'), slop=0.02)
    for frame in pairer.add_part('image', stamp_ns, image_msg): ...
    for frame in pairer.add_pose(stamp_ns, camera_to_world): ...
    for frame in pairer.flush(): ...   # at the end of a recording
"""

import bisect
from dataclasses import dataclass
from dataclasses import field
import math

import numpy as np

from anyrecon_ros.core.config_fields import check_ranges
from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.drop_counter import DropCounter
from anyrecon_ros.core.transforms import interpolate_poses
from anyrecon_ros.core.transforms import validate_rigid

# Parts of one frame (an image, its camera_info and depth) share their driver's
# stamp, give or take this: under half the interval of a 30 Hz camera.
DEFAULT_PART_SLOP = 0.01
QUEUE_FULL = 'queue_full'
NO_POSE = 'no_pose'
UNMATCHED_PREFIX = 'unmatched_'
INCOMPLETE = 'incomplete_frame'


@dataclass(frozen=True)
class PairingConfig:
    """How a live stream is paired (the memory node's parameters of the same names)."""

    slop: float = setting(0.05, 'Seconds by which the stamps of a frame and its pose may '
                          'differ.', (0.0, 10.0))
    part_slop: float = setting(DEFAULT_PART_SLOP, 'Seconds by which the stamps of an image, '
                               'its camera_info and depth may differ (under half the frame '
                               'interval).', (0.0, 10.0))
    frame_queue_size: int = setting(10, 'Frames that wait for their parts or pose; the oldest '
                                    'is dropped beyond it.', (1, 1000))

    def __post_init__(self):
        check_ranges(self)


@dataclass
class PairedFrame:
    """A complete frame and the camera-to-world pose at its stamp."""

    stamp_ns: int
    parts: dict                  # part name -> the value given to add_part
    camera_to_world: np.ndarray  # (4, 4)
    interpolated: bool           # True when the pose lies between two poses


@dataclass
class _WaitingFrame:
    stamp_ns: int
    parts: dict = field(default_factory=dict)


class StampPairer:
    """Pair frame parts with each other and with poses by stamp (see the module docstring)."""

    def __init__(self, parts=('image',), slop: float = PairingConfig.slop,
                 queue_size: int = PairingConfig.frame_queue_size,
                 max_poses: int = 1000, on_drop=None, part_slop: float = None):
        """Pair frames made of ``parts`` (the first is the anchor) within ``slop`` seconds.

        ``part_slop`` (default ``slop``) bounds how far the stamps of one
        frame's parts may differ; keep it under half the frame interval, or a
        lost image lets its depth join the next frame. ``on_drop(reason,
        stamp_ns)`` is called for every dropped frame or part.
        """
        part_slop = slop if part_slop is None else part_slop
        parts = tuple(parts)
        if not parts or len(set(parts)) != len(parts):
            raise ValueError(f'parts must be distinct names, at least one, got {parts}')
        for name, value in (('slop', slop), ('part_slop', part_slop)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f'{name} must be a finite number of seconds >= 0, got {value}')
        if queue_size < 1 or max_poses < 1:
            raise ValueError('queue_size and max_poses must be at least 1')
        self.parts = parts
        self.slop_ns = int(round(slop * 1e9))
        self.part_slop_ns = int(round(part_slop * 1e9))
        self.queue_size = int(queue_size)
        self.max_poses = int(max_poses)
        self.drops = DropCounter()
        self._on_drop = on_drop
        self._frames = []
        self._loose = {name: [] for name in parts[1:]}
        self._pose_stamps = []
        self._poses = []

    @property
    def pending(self) -> int:
        """Return how many frames wait for a part or a pose."""
        return len(self._frames)

    def waiting(self):
        """Return (stamp_ns, parts) of the complete frames still waiting for a pose."""
        return [(frame.stamp_ns, dict(frame.parts)) for frame in self._frames
                if self._complete(frame)]

    def add_part(self, name: str, stamp_ns: int, value) -> list:
        """Add one part of a frame; return the frames (PairedFrame) this made ready, by stamp."""
        if name not in self.parts:
            raise ValueError(f'unknown part {name!r}; this pairer pairs {self.parts}')
        stamp_ns = int(stamp_ns)
        if name == self.parts[0]:
            self._add_anchor(stamp_ns, value)
        else:
            self._add_other(name, stamp_ns, value)
        return self._release()

    def add_pose(self, stamp_ns: int, camera_to_world) -> list:
        """Add a pose (ValueError if not rigid); return the frames this made ready, by stamp."""
        pose = validate_rigid(camera_to_world)
        stamp_ns = int(stamp_ns)
        index = bisect.bisect_left(self._pose_stamps, stamp_ns)
        if index < len(self._pose_stamps) and self._pose_stamps[index] == stamp_ns:
            self._poses[index] = pose  # the same instant again: the newer pose wins
        else:
            self._pose_stamps.insert(index, stamp_ns)
            self._poses.insert(index, pose)
        if len(self._poses) > self.max_poses:
            del self._pose_stamps[0], self._poses[0]
        return self._release()

    def flush(self) -> list:
        """Release what can be paired now that no more input will come; drop the rest.

        A complete frame with no pose after it takes the nearest earlier pose
        within ``slop``; frames without one, and incomplete frames, are dropped.
        """
        ready = self._release()
        for frame in sorted(self._frames, key=lambda waiting: waiting.stamp_ns):
            if not self._complete(frame):
                self._drop(INCOMPLETE, frame.stamp_ns)
                continue
            before = bisect.bisect_right(self._pose_stamps, frame.stamp_ns) - 1
            if before >= 0 and frame.stamp_ns - self._pose_stamps[before] <= self.slop_ns:
                ready.append(PairedFrame(frame.stamp_ns, frame.parts, self._poses[before].copy(),
                                         False))
            else:
                self._drop(NO_POSE, frame.stamp_ns)
        self._frames = []
        for loose in self._loose.values():
            loose.clear()
        return ready

    def clear(self) -> None:
        """Forget every waiting frame, part and pose (counters are kept)."""
        self._frames = []
        for loose in self._loose.values():
            loose.clear()
        self._pose_stamps, self._poses = [], []

    # ---- parts -----------------------------------------------------------

    def _add_anchor(self, stamp_ns, value):
        frame = _WaitingFrame(stamp_ns, {self.parts[0]: value})
        for name, loose in self._loose.items():
            nearest = self._nearest(stamp_ns, [stamp for stamp, _ in loose])
            if nearest is not None:
                frame.parts[name] = loose.pop(nearest)[1]
        self._frames.append(frame)
        if len(self._frames) > self.queue_size:
            oldest = min(range(len(self._frames)), key=lambda i: self._frames[i].stamp_ns)
            self._drop(QUEUE_FULL, self._frames.pop(oldest).stamp_ns)

    def _add_other(self, name, stamp_ns, value):
        missing = [frame for frame in self._frames if name not in frame.parts]
        nearest = self._nearest(stamp_ns, [frame.stamp_ns for frame in missing])
        if nearest is not None:
            missing[nearest].parts[name] = value
            return
        loose = self._loose[name]
        loose.append((stamp_ns, value))
        if len(loose) > self.queue_size:
            oldest = min(range(len(loose)), key=lambda i: loose[i][0])
            self._drop(UNMATCHED_PREFIX + name, loose.pop(oldest)[0])

    def _nearest(self, stamp_ns, stamps):
        """Return the index of the stamp nearest ``stamp_ns`` within part_slop (older on a tie)."""
        best = None
        for index, stamp in enumerate(stamps):
            gap = abs(stamp - stamp_ns)
            if gap <= self.part_slop_ns and (best is None or (gap, stamp) < best[0]):
                best = ((gap, stamp), index)
        return None if best is None else best[1]

    def _complete(self, frame) -> bool:
        return len(frame.parts) == len(self.parts)

    # ---- poses -----------------------------------------------------------

    def _release(self) -> list:
        """Pair every complete frame whose pose is decided; keep the ones still waiting."""
        ready, waiting = [], []
        for frame in self._frames:
            if not self._complete(frame):
                waiting.append(frame)
                continue
            decided, pose, interpolated = self._pose_at(frame.stamp_ns)
            if not decided:
                waiting.append(frame)
            elif pose is None:
                self._drop(NO_POSE, frame.stamp_ns)
            else:
                ready.append(PairedFrame(frame.stamp_ns, frame.parts, pose, interpolated))
        self._frames = waiting
        return sorted(ready, key=lambda paired: paired.stamp_ns)

    def _pose_at(self, stamp_ns):
        """Return (decided, pose or None, interpolated) for a frame stamp.

        The pose is decided once a pose at or after the stamp is known; until
        then a better one may still come, so the frame waits.
        """
        after = bisect.bisect_left(self._pose_stamps, stamp_ns)
        if after == len(self._pose_stamps):
            return False, None, False
        after_stamp = self._pose_stamps[after]
        if after_stamp == stamp_ns:
            return True, self._poses[after].copy(), False
        after_near = after_stamp - stamp_ns <= self.slop_ns
        before_near = after > 0 and stamp_ns - self._pose_stamps[after - 1] <= self.slop_ns
        if after_near and before_near:
            before_stamp = self._pose_stamps[after - 1]
            fraction = (stamp_ns - before_stamp) / (after_stamp - before_stamp)
            pose = interpolate_poses(self._poses[after - 1], self._poses[after], [fraction])[0]
            return True, pose, True
        if after_near:
            return True, self._poses[after].copy(), False
        if before_near:
            return True, self._poses[after - 1].copy(), False
        return True, None, False

    def _drop(self, reason, stamp_ns):
        self.drops.add(reason)
        if self._on_drop is not None:
            self._on_drop(reason, stamp_ns)
