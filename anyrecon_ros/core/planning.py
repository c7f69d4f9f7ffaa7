# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Viewpoint trajectories over the geometry memory, for the generator to run along.

Three ways to get a path: ``interpolate_trajectory`` fills in views between
captured keyframes, ``extrapolate_trajectory`` continues the recent motion
beyond the first or last keyframe, and ``plan_coverage`` looks for views of
what the memory has not seen yet. ``cut_segments`` cuts a long path into the
generator's segments.

Coverage planning scores each candidate viewpoint by rendering the memory into
it at a reduced resolution: the pixels no memory point covers (mask 0) are the
unseen part the generator would fill in, the covered ones are what it
conditions on, so a view must keep at least ``min_overlap`` of them. Views are
picked greedily by how much unseen space they add to what the views already
picked look at (an unseen pixel stands for the spot where its ray leaves the
memory's bounding box, a room's walls for a room). The picked views are
ordered into a short tour from the start pose and densified so consecutive
frames move by bounded steps.

The planner knows free space only from the memory: viewpoints keep
``clearance`` from every memory point, and each is in straight line of sight
of the start position (half the clearance along the way), so a path between
two viewpoints that would cross geometry goes back by the start instead.
"""

from dataclasses import dataclass
import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.config_fields import check_ranges
from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import splat_coverage
from anyrecon_ros.core.geometry_memory import voxel_keys
from anyrecon_ros.core.transforms import interpolate_poses
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.core.transforms import transform_points
from anyrecon_ros.core.transforms import validate_rigid

# Unseen pixels are grouped by the 3D cell their ray ends in; two views looking
# at the same cell of unseen wall see the same thing for the diversity term.
_UNSEEN_CELL = 0.25            # metres
_UNSEEN_PIXEL_STRIDE = 4       # every 4th pixel of the reduced render, each way
# Candidate positions are drawn in batches until enough pass the free-space tests.
_SAMPLING_BATCHES = 30
# Without a height band, viewpoints stay this close to the start's height: a
# robot's camera is mounted at one height.
_DEFAULT_HEIGHT_SPREAD = 0.3   # metres
_MIN_EXTENT = 1e-9
# Trajectories go to the generator in segments of this many poses, consecutive
# segments sharing SEGMENT_OVERLAP; the planner cuts them and the loop
# (LoopConfig) generates them, so both take their defaults from here.
SEGMENT_LENGTH = 40
SEGMENT_OVERLAP = 1


def segment_length_setting():
    """Return the ``segment_length`` field of the planner's and the loop's configs."""
    return setting(SEGMENT_LENGTH, 'Views per trajectory segment of the generator.', (2, 1000))


@dataclass(frozen=True)
class CoverageConfig:
    """Parameters of coverage planning (lengths in metres, angles in radians)."""

    min_overlap: float = setting(0.3, 'coverage: least share of a view the memory must cover.',
                                 (0.0, 0.99))
    min_gain: float = 0.02             # stop when the best view adds less new unseen share
    n_candidates: int = setting(200, 'coverage: candidate viewpoints scored per plan.',
                                (1, 10000))
    clearance: float = setting(0.4, 'coverage: metres viewpoints keep from memory points.',
                               (0.01, 10.0))
    height_band: tuple | None = None   # (z_min, z_max) of viewpoints; None: start z +- 0.3
    max_pitch: float = math.radians(30.0)   # viewpoints look at most this far up or down
    render_width: int = 160            # candidates are scored on a camera this wide
    scoring_voxel: float = 0.04        # the memory is decimated to this voxel for scoring
    max_translation_step: float = setting(0.05, 'Most metres between consecutive poses '
                                          '(coverage).', (0.001, 10.0))
    max_rotation_step: float = setting(math.radians(3.0), 'Most degrees of turn between '
                                       'consecutive poses (coverage).',
                                       (math.radians(0.01), math.radians(90.0)),
                                       in_degrees=True)
    segment_length: int = segment_length_setting()
    segment_overlap: int = SEGMENT_OVERLAP

    def __post_init__(self):
        check_ranges(self)
        if not 0.0 <= self.min_overlap < 1.0:
            raise ValueError(f'min_overlap must be in [0, 1), got {self.min_overlap}')
        if self.n_candidates < 1 or self.render_width < 8:
            raise ValueError('need n_candidates >= 1 and render_width >= 8')
        positive = ('clearance', 'scoring_voxel', 'max_translation_step', 'max_rotation_step',
                    'max_pitch')
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be positive, got {getattr(self, name)}')
        if self.max_pitch >= math.radians(80.0):
            raise ValueError('max_pitch must stay below 80 degrees (look_at needs a heading)')
        if self.height_band is not None and not self.height_band[0] <= self.height_band[1]:
            raise ValueError(f'height_band must be (low, high), got {self.height_band}')


@dataclass
class Trajectory:
    """A camera path for the generator, with what the memory covers along it."""

    poses: np.ndarray              # (N, 4, 4) camera-to-world, optical axes
    unseen_fraction: np.ndarray    # (N,) share of each view no memory point covers
    segments: list                 # (start, end) half-open index ranges into poses
    viewpoint_indices: np.ndarray  # indices into poses of the planned viewpoints, in path order


# ---- interpolation and extrapolation ----------------------------------------------------


def interpolate_trajectory(keyframe_poses, frames_between) -> np.ndarray:
    """Return the keyframes with ``frames_between`` interpolated poses in each gap, (N, 4, 4).

    ``frames_between`` is one count for every gap or one per gap (K - 1 of
    them). Rotations are slerped and camera centres move on straight lines at
    constant speed between consecutive keyframes; the keyframes themselves
    appear unchanged, keyframe ``i`` at index ``i + sum(frames_between[:i])``.
    """
    keyframes = _pose_array(keyframe_poses, minimum=1)
    gaps = len(keyframes) - 1
    counts = np.broadcast_to(np.asarray(frames_between, dtype=np.int64), (gaps,))
    if np.any(counts < 0):
        raise ValueError(f'frames_between must be >= 0, got {np.asarray(frames_between)}')
    pieces = [keyframes[:1]]
    for index, count in enumerate(counts):
        if count:   # interpolate_poses needs at least one fraction
            fractions = np.arange(1, count + 1) / (count + 1)
            pieces.append(interpolate_poses(keyframes[index], keyframes[index + 1], fractions))
        pieces.append(keyframes[index + 1:index + 2])
    return np.concatenate(pieces)


def extrapolate_trajectory(keyframe_poses, n_frames: int, step: float | None = None,
                           before: bool = False, history: int = 3) -> np.ndarray:
    """Return ``n_frames`` poses continuing the recent motion past the last keyframe, (N, 4, 4).

    The recent motion is that of the last ``history`` keyframes: the camera
    centre keeps going in a straight line along their mean displacement, by
    ``step`` metres a frame (default: the mean spacing of all keyframes), and
    the camera keeps turning at their mean rate, scaled so that it turns as
    much per metre as they did. A camera that only turned keeps turning in
    place. With ``before`` the motion is continued backwards from the first
    keyframe; the poses are returned in path order either way, so
    ``concatenate([before_poses, keyframes, after_poses])`` is one path.
    """
    keyframes = _pose_array(keyframe_poses, minimum=2)
    if n_frames < 0 or history < 2:
        raise ValueError(f'need n_frames >= 0 and history >= 2, got {n_frames}, {history}')
    if before:
        return extrapolate_trajectory(keyframes[::-1], n_frames, step, history=history)[::-1]
    recent = keyframes[-min(history, len(keyframes)):]
    centres = recent[:, :3, 3]
    velocity = (centres[-1] - centres[0]) / (len(recent) - 1)
    recent_step = float(np.linalg.norm(velocity))
    # Body-frame turn between consecutive poses; their mean is the rotation rate.
    turns = Rotation.from_matrix(np.einsum('nji,njk->nik', recent[:-1, :3, :3],
                                           recent[1:, :3, :3]))
    turn_per_frame = turns.mean().as_rotvec()
    if step is None:
        step = float(np.mean(np.linalg.norm(np.diff(keyframes[:, :3, 3], axis=0), axis=1)))
    if step < 0:
        raise ValueError(f'step must be >= 0, got {step}')
    direction = np.zeros(3)
    if recent_step > _MIN_EXTENT:
        direction = velocity / recent_step
        turn_per_frame = turn_per_frame * (step / recent_step)
    frames = np.arange(1, n_frames + 1, dtype=np.float64)
    last = keyframes[-1]
    poses = np.tile(np.eye(4), (n_frames, 1, 1))
    turn = Rotation.from_rotvec(frames[:, None] * turn_per_frame)
    poses[:, :3, :3] = np.einsum('ij,njk->nik', last[:3, :3], turn.as_matrix())
    poses[:, :3, 3] = last[:3, 3] + frames[:, None] * step * direction
    return poses


def densify_path(waypoints, max_translation_step: float, max_rotation_step: float):
    """Interpolate between waypoints so that no step exceeds either limit.

    Each gap gets the fewest frames that keep every step within
    ``max_translation_step`` metres and ``max_rotation_step`` radians.
    Returns ``(poses (N, 4, 4), waypoint_indices (K,))``: the densified path,
    which starts with the first waypoint, and where each waypoint landed.
    """
    waypoints = _pose_array(waypoints, minimum=1)
    if not (max_translation_step > 0 and max_rotation_step > 0):
        raise ValueError('step limits must be positive')
    steps = _frames_needed(waypoints[:-1], waypoints[1:], max_translation_step,
                           max_rotation_step)
    pieces = [waypoints[:1]]
    for index, count in enumerate(steps):
        fractions = np.arange(1, count + 1) / count
        gap = interpolate_poses(waypoints[index], waypoints[index + 1], fractions)
        gap[-1] = waypoints[index + 1]   # land on the waypoint exactly
        pieces.append(gap)
    indices = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
    return np.concatenate(pieces), indices


# ---- segments ------------------------------------------------------------------------------


def cut_segments(poses, segment_length: int = SEGMENT_LENGTH, overlap: int = SEGMENT_OVERLAP,
                 min_length: int | None = None) -> list:
    """Cut a path into the generator's segments; return half-open ``(start, end)`` ranges.

    Consecutive segments share ``overlap`` frames (with the default 1, each
    segment starts on the frame the previous one ended with, a view already
    generated and fused). Every segment has ``segment_length`` frames except
    the last: a tail shorter than ``min_length`` (default
    ``segment_length // 5``) is merged into the segment before it, so the last
    segment has between ``min_length`` and
    ``segment_length + min_length - overlap - 1`` frames. A path shorter than
    that is one segment. Apply the ranges as ``poses[start:end]``.
    """
    count = len(poses)
    min_length = max(1, segment_length // 5) if min_length is None else min_length
    if not 0 <= overlap < segment_length or not 1 <= min_length <= segment_length:
        raise ValueError(f'need 0 <= overlap < segment_length and 1 <= min_length <= '
                         f'segment_length, got {overlap}, {segment_length}, {min_length}')
    if count == 0:
        return []
    stride = segment_length - overlap
    starts = np.arange(0, max(count - overlap, 1), stride)
    segments = [(int(s), int(min(s + segment_length, count))) for s in starts]
    if len(segments) > 1 and segments[-1][1] - segments[-1][0] < min_length:
        tail_end = segments.pop()[1]
        segments[-1] = (segments[-1][0], tail_end)
    return segments


# ---- coverage planning ---------------------------------------------------------------------


def plan_coverage(memory: GeometryMemory, camera: PinholeCamera, start_pose, n_views: int,
                  config: CoverageConfig = CoverageConfig(), bounds=None, free_space=None,
                  seed: int = 0) -> Trajectory:
    """Plan a path from ``start_pose`` through up to ``n_views`` views of unseen space.

    ``bounds`` is the (min, max) corner pair viewpoints must lie in (default:
    the box around the memory and the start position); viewpoints also keep
    ``config.clearance`` from its sides, where unseen walls may stand. Their
    height is ``config.height_band``. ``free_space`` optionally
    takes (M, 3) positions and returns a bool (M,) mask of those known free
    (an occupancy map), applied on top of the memory's clearance. The same
    ``seed`` gives the same plan. Fewer views are returned when fewer add
    unseen space; with none the path is the start pose alone.
    """
    start_pose = validate_rigid(start_pose)
    if len(memory) == 0:
        raise ValueError('coverage planning needs a non-empty memory')
    if n_views < 0:
        raise ValueError(f'n_views must be >= 0, got {n_views}')
    rng = np.random.default_rng(seed)
    scorer = _CoverageScorer(memory, camera, config)
    region = _sampling_region(memory, start_pose, config, bounds)
    free = _FreeSpace(memory.positions, start_pose[:3, 3], config.clearance, free_space)
    candidates = _sample_viewpoints(rng, scorer, free, region, config)
    chosen = _choose_views(scorer, candidates, n_views, config)
    waypoints, is_view = _tour(start_pose, candidates[chosen], free, config)
    poses, waypoint_indices = densify_path(waypoints, config.max_translation_step,
                                           config.max_rotation_step)
    unseen = np.array([1.0 - scorer.seen_mask(pose).mean() for pose in poses])
    return Trajectory(poses, unseen, cut_segments(poses, config.segment_length,
                                                  config.segment_overlap),
                      waypoint_indices[is_view])


class _CoverageScorer:
    """Renders the decimated memory into a reduced copy of the camera."""

    def __init__(self, memory, camera, config):
        height = max(1, round(config.render_width * camera.height / camera.width))
        self.camera = camera.scaled(config.render_width, height)
        self.voxel = max(config.scoring_voxel, memory.config.voxel_size)
        _, first = np.unique(voxel_keys(memory.positions, self.voxel), return_index=True)
        self.points = memory.positions[np.sort(first)]
        lo, hi = memory.bounds()
        self.box = (lo - self.voxel, hi + self.voxel)
        v, u = np.mgrid[0:height:_UNSEEN_PIXEL_STRIDE, 0:config.render_width:_UNSEEN_PIXEL_STRIDE]
        self.sample_pixels = (v.ravel(), u.ravel())
        pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
        self.sample_rays = pixels @ np.linalg.inv(self.camera.K).T

    def seen_mask(self, pose) -> np.ndarray:
        return splat_coverage(self.points, self.voxel, self.camera, pose)

    def unseen_cells(self, pose, mask) -> np.ndarray:
        """Return the unseen cell key of each unseen sample pixel, where its ray leaves the box."""
        unseen = ~mask[self.sample_pixels]
        directions = transform_points(pose[:3, :3], self.sample_rays[unseen])
        distance = _box_exit_distance(pose[:3, 3], directions, *self.box)
        return voxel_keys(pose[:3, 3] + distance[:, None] * directions, _UNSEEN_CELL)


def _box_exit_distance(origin, directions, lo, hi):
    """Return where rays from ``origin`` (inside the box) leave it, in units of ``directions``."""
    with np.errstate(divide='ignore', invalid='ignore'):
        to_far_side = np.where(directions > 0, hi - origin, lo - origin) / directions
    to_far_side[~np.isfinite(to_far_side)] = np.inf
    return np.maximum(to_far_side.min(axis=1), 0.0)


class _FreeSpace:
    """Free-space tests against the memory points, and the caller's own test."""

    def __init__(self, points, start, clearance, extra_test):
        self.tree = cKDTree(points)
        self.start = np.asarray(start, np.float64)
        self.clearance = clearance
        self.extra_test = extra_test

    def clear_positions(self, positions, min_distance) -> np.ndarray:
        distance, _ = self.tree.query(positions, distance_upper_bound=min_distance)
        clear = distance > min_distance
        if self.extra_test is not None:
            clear &= np.asarray(self.extra_test(positions), bool)
        return clear

    def clear_segments(self, starts, ends) -> np.ndarray:
        """Return whether each straight segment keeps half the clearance from the memory.

        The start position is where the camera already is, so the stretch of
        a segment within ``clearance`` of it is not tested.
        """
        starts, ends = np.atleast_2d(starts), np.atleast_2d(ends)
        spacing = self.clearance / 4
        samples = int(np.ceil(np.linalg.norm(ends - starts, axis=1).max(initial=0) / spacing))
        fractions = np.linspace(0.0, 1.0, samples + 2)
        points = starts[:, None] + fractions[None, :, None] * (ends - starts)[:, None]
        near_start = np.linalg.norm(points - self.start, axis=2) < self.clearance
        clear = self.clear_positions(points.reshape(-1, 3), self.clearance / 2)
        return (clear.reshape(points.shape[:2]) | near_start).all(axis=1)


def _sampling_region(memory, start_pose, config, bounds):
    if bounds is None:
        # The camera stood in free space, and in front of a single wall the
        # memory's own box would be a sliver of that wall.
        lo, hi = memory.bounds()
        lo, hi = np.minimum(lo, start_pose[:3, 3]), np.maximum(hi, start_pose[:3, 3])
    else:
        lo, hi = (np.array(corner, np.float64) for corner in bounds)
    band = config.height_band
    if band is None:
        band = start_pose[2, 3] + np.array([-1.0, 1.0]) * _DEFAULT_HEIGHT_SPREAD
    lo[2], hi[2] = max(lo[2], band[0]), min(hi[2], band[1])
    lo[:2] += config.clearance
    hi[:2] -= config.clearance
    return lo, np.maximum(hi, lo)


def _sample_viewpoints(rng, scorer, free, region, config) -> np.ndarray:
    """Return up to ``n_candidates`` candidate poses in free space, seen from the start."""
    lo, hi = region
    positions = np.empty((0, 3))
    for _ in range(_SAMPLING_BATCHES):
        batch = rng.uniform(lo, hi, size=(4 * config.n_candidates, 3))
        batch = batch[free.clear_positions(batch, config.clearance)]
        batch = batch[free.clear_segments(np.broadcast_to(free.start, batch.shape), batch)]
        positions = np.concatenate([positions, batch])[:config.n_candidates]
        if len(positions) == config.n_candidates:
            break
    return np.array([look_at(p, p + d) for p, d in
                     zip(positions, _view_directions(rng, scorer, positions, config))]
                    ).reshape(-1, 4, 4)


def _view_directions(rng, scorer, positions, config):
    """Aim at a random memory point, then turn by up to half the field of view.

    The aimed-at point lands anywhere across the image, so candidates
    straddle seen and unseen space; the pitch stays within ``max_pitch``.
    """
    targets = scorer.points[rng.integers(len(scorer.points), size=len(positions))]
    offset = targets - positions
    half_fov = math.atan2(scorer.camera.width / 2, scorer.camera.fx)
    turn = rng.uniform(-half_fov, half_fov, len(positions))
    yaw = np.arctan2(offset[:, 1], offset[:, 0]) + turn
    pitch = np.clip(np.arctan2(offset[:, 2], np.linalg.norm(offset[:, :2], axis=1)),
                    -config.max_pitch, config.max_pitch)
    return np.stack([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)],
                    axis=1)


def _choose_views(scorer, candidates, n_views, config) -> np.ndarray:
    """Greedy maximum coverage of unseen cells among views that keep enough overlap."""
    owners, cells = [], []
    for index, pose in enumerate(candidates):
        mask = scorer.seen_mask(pose)
        if mask.mean() >= config.min_overlap:
            view_cells = scorer.unseen_cells(pose, mask)
            owners.append(np.full(len(view_cells), index))
            cells.append(view_cells)
    if not owners:
        return np.empty(0, np.int64)
    owner, cell = np.concatenate(owners), np.unique(np.concatenate(cells), return_inverse=True)[1]
    covered = np.zeros(cell.max(initial=-1) + 1, bool)
    min_pixels = config.min_gain * len(scorer.sample_rays)
    chosen = []
    for _ in range(n_views):
        open_pairs = ~covered[cell]
        gains = np.bincount(owner[open_pairs], minlength=len(candidates))
        best = int(np.argmax(gains))
        if gains[best] < max(min_pixels, 1):
            break
        chosen.append(best)
        covered[cell[owner == best]] = True
    return np.array(chosen, np.int64)


def _tour(start_pose, views, free, config):
    """Order the views into a short open tour from the start.

    An edge costs the frames densifying it takes. Two views without a clear
    straight line between them are joined through the start pose, which every
    view can see. Returns the waypoints and which of them are views.
    """
    if not len(views):
        return start_pose[None], np.zeros(1, bool)
    nodes = np.concatenate([start_pose[None], views])
    count = len(nodes)
    cost = _frames_needed(np.repeat(nodes, count, axis=0), np.tile(nodes, (count, 1, 1)),
                          config.max_translation_step, config.max_rotation_step,
                          ceil=False).reshape(count, count)
    pairs = np.triu_indices(count, 1)
    blocked = np.zeros((count, count), bool)
    blocked[pairs] = ~free.clear_segments(nodes[pairs[0], :3, 3], nodes[pairs[1], :3, 3])
    blocked |= blocked.T
    cost = np.where(blocked, cost[:, :1] + cost[:1, :], cost)
    order = _two_opt(_nearest_neighbour_order(cost), cost)
    waypoints, is_view = [start_pose], [False]
    for a, b in zip(order[:-1], order[1:]):
        if blocked[a, b]:
            waypoints.append(start_pose)
            is_view.append(False)
        waypoints.append(nodes[b])
        is_view.append(True)
    return np.array(waypoints), np.array(is_view)


def _nearest_neighbour_order(cost):
    order, left = [0], set(range(1, len(cost)))
    while left:
        here = order[-1]
        order.append(min(left, key=lambda node: (cost[here, node], node)))
        left.remove(order[-1])
    return order


def _two_opt(order, cost):
    """Reverse stretches of the open tour (the first node fixed) while that shortens it."""
    order = list(order)
    improved = True
    while improved:
        improved = False
        for i in range(1, len(order) - 1):
            for j in range(i + 1, len(order)):
                before = cost[order[i - 1], order[i]]
                after = cost[order[i - 1], order[j]]
                if j + 1 < len(order):
                    before += cost[order[j], order[j + 1]]
                    after += cost[order[i], order[j + 1]]
                if after < before - 1e-9:
                    order[i:j + 1] = order[i:j + 1][::-1]
                    improved = True
    return order


# ---- helpers -------------------------------------------------------------------------------


def _frames_needed(poses_a, poses_b, max_translation, max_rotation, ceil=True):
    """Return the frames each gap needs so no step exceeds either limit (at least 1)."""
    distance = np.linalg.norm(poses_b[:, :3, 3] - poses_a[:, :3, 3], axis=1)
    relative = np.einsum('nji,njk->nik', poses_a[:, :3, :3], poses_b[:, :3, :3])
    angle = Rotation.from_matrix(relative).magnitude() if len(relative) else np.zeros(0)
    frames = np.maximum(distance / max_translation, angle / max_rotation)
    return np.maximum(np.ceil(frames - 1e-9), 1).astype(np.int64) if ceil else frames


def _pose_array(poses, minimum):
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4) or len(poses) < minimum:
        raise ValueError(f'need at least {minimum} poses of shape (4, 4), got {poses.shape}')
    for pose in poses:
        validate_rigid(pose)
    return poses
