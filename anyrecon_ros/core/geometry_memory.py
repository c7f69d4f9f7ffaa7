# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The geometry memory: a voxel-hashed, coloured point cloud fused from depth maps.

Each occupied voxel holds one point: its weighted-mean position and colour, a
confidence (the sum of observation weights), an observation count, an origin
(captured or generated) and the ids of the last few captured views that
observed it, which geometry-aware retrieval reads.

Captured observations always win: a captured observation replaces a voxel
that only generated views had filled, and generated observations never change
a captured voxel. The memory is bounded by a point cap and an optional radius
around a position (as nvblox clears its map), so it stays flat on long runs.

Storage is a struct of numpy arrays plus a sorted array of voxel keys; an
insert costs one ``searchsorted`` and one ``np.insert`` (a memory copy), no
Python loop over points.
"""

from dataclasses import asdict
from dataclasses import dataclass

import cv2
import numpy as np

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.config_fields import check_ranges
from anyrecon_ros.core.config_fields import setting
from anyrecon_ros.core.ply import write_ply
from anyrecon_ros.core.transforms import transform_points
from anyrecon_ros.core.view_bank import GeneratedFrame

CAPTURED, GENERATED = 0, 1
NO_VIEW = -1
# Voxel indices are packed into one int64 key, 21 bits an axis: +-2^20 voxels
# (+-21 km at 2 cm) around the origin.
_AXIS_BITS = 21
_AXIS_OFFSET = 1 << (_AXIS_BITS - 1)
_AXIS_MASK = (1 << _AXIS_BITS) - 1


@dataclass(frozen=True)
class MemoryConfig:
    """Parameters of the geometry memory."""

    voxel_size: float = setting(0.02, 'Geometry memory voxel size, metres.', (0.001, 1.0))
    min_depth: float = setting(0.1, 'Nearer depth is not fused, metres.', (0.0, 100.0))
    max_depth: float = setting(8.0, 'Farther depth is not fused, metres.', (0.01, 1000.0))
    max_points: int = setting(2_000_000, 'Points the memory holds at most (the oldest, least '
                              'confident go first).', (1000, 100_000_000))
    captured_weight: float = 1.0
    # 0.3, as documented (docs/nodes.md, config/anyrecon.yaml) and as the memory node always used.
    generated_weight: float = setting(0.3, 'Fusion weight of generated views (captured views '
                                      'weigh 1 and always win).', (0.01, 1.0))
    max_confidence: float = 50.0      # caps the weight sum so the map can still change
    observers_per_point: int = 8      # captured view ids kept per point (most recent)

    def __post_init__(self):
        check_ranges(self)
        if not self.voxel_size > 0:
            raise ValueError(f'voxel_size must be positive, got {self.voxel_size}')
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f'need 0 <= min_depth < max_depth, got {self.min_depth}, '
                             f'{self.max_depth}')
        if self.max_points < 1 or self.observers_per_point < 1:
            raise ValueError('max_points and observers_per_point must be at least 1')
        if not 0 < self.generated_weight <= self.captured_weight:
            raise ValueError('need 0 < generated_weight <= captured_weight')


@dataclass
class MemoryRender:
    """The memory seen from one pinhole view (z-buffered splats)."""

    rgb: np.ndarray          # (H, W, 3) uint8, black where nothing is visible
    depth: np.ndarray        # (H, W) float32 metres along the optical axis, NaN where none
    mask: np.ndarray         # (H, W) bool, True where a memory point is visible
    point_index: np.ndarray  # (H, W) int64 index of the visible point, -1 where none


# Per-point arrays, with their dtype and trailing shape (None: observers_per_point).
_FIELDS = {
    'positions': (np.float32, (3,)),
    'colours': (np.float32, (3,)),
    'confidence': (np.float32, ()),
    'counts': (np.int32, ()),
    'origins': (np.uint8, ()),
    # Keyframe ids span the message's uint32 range (and -1 means none): int64.
    'observers': (np.int64, (None,)),
    'last_update': (np.int64, ()),
}


class GeometryMemory:
    """A bounded, voxel-hashed coloured point memory (see the module docstring)."""

    def __init__(self, config: MemoryConfig = MemoryConfig()):
        self.config = config
        self._size = 0
        self._arrays = {name: self._empty(name, 1024) for name in _FIELDS}
        self._sorted_keys = np.empty(0, np.int64)
        self._sorted_index = np.empty(0, np.int64)
        self._update_counter = 0

    # ---- reading ---------------------------------------------------------

    def __len__(self):
        return self._size

    def _live(self, name):
        return self._arrays[name][:self._size]

    positions = property(lambda self: self._live('positions'), doc='(N, 3) float32 metres')
    colours = property(lambda self: self._live('colours'), doc='(N, 3) float32, 0-255')
    confidence = property(lambda self: self._live('confidence'), doc='(N,) weight sums')
    counts = property(lambda self: self._live('counts'), doc='(N,) observations fused')
    origins = property(lambda self: self._live('origins'), doc='(N,) CAPTURED or GENERATED')
    observers = property(lambda self: self._live('observers'),
                         doc='(N, observers_per_point) captured view ids, -1 for none')
    last_update = property(lambda self: self._live('last_update'),
                           doc='(N,) insert counter of the last change')

    def count(self, origin: int) -> int:
        """Return how many points have ``origin`` (CAPTURED or GENERATED)."""
        return int(np.count_nonzero(self.origins == origin))

    def bounds(self):
        """Return the (min, max) corners of the memory, or two zero vectors when empty."""
        if not self._size:
            return np.zeros(3), np.zeros(3)
        return self.positions.min(axis=0).astype(np.float64), self.positions.max(
            axis=0).astype(np.float64)

    def colours_uint8(self) -> np.ndarray:
        """Return the point colours as (N, 3) uint8."""
        return np.clip(self.colours + 0.5, 0, 255).astype(np.uint8)

    def decimated(self, max_points: int):
        """Return (positions, colours uint8) of at most ``max_points`` spread-out points."""
        if self._size <= max_points:
            return self.positions.copy(), self.colours_uint8()
        # Keep one point per coarser voxel, growing the voxel until it fits.
        factor = max(2.0, (self._size / max_points) ** (1 / 3))
        while True:
            coarse = voxel_keys(self.positions, self.config.voxel_size * factor)
            _, first = np.unique(coarse, return_index=True)
            if len(first) <= max_points:
                break
            factor *= 1.25
        first.sort()
        return self.positions[first].copy(), self.colours_uint8()[first]

    def export_ply(self, path):
        """Write the memory as a binary PLY with confidence, count and origin per point."""
        return write_ply(path, self.positions, self.colours_uint8(), {
            'confidence': self.confidence, 'count': self.counts.astype(np.float32),
            'origin': self.origins.astype(np.float32)})

    # ---- writing ---------------------------------------------------------

    def insert(self, rgb, depth, camera: PinholeCamera, camera_to_world, view_id: int = NO_VIEW,
               origin: int = CAPTURED, confidence=None, pixel_stride=None) -> int:
        """Fuse a depth map (metres, NaN or <= 0 invalid) with its colours; return voxels touched.

        ``confidence`` optionally scales each pixel's weight (e.g. MVS confidence).
        ``pixel_stride`` subsamples pixels; by default about two samples per
        voxel at the median depth, since finer sampling adds nothing.
        """
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != (camera.height, camera.width) or rgb.shape[:2] != depth.shape:
            raise ValueError(f'depth {depth.shape} and rgb {rgb.shape} must both be '
                             f'{camera.height}x{camera.width}')
        if origin not in (CAPTURED, GENERATED):
            raise ValueError(f'origin must be CAPTURED or GENERATED, got {origin}')
        stride = pixel_stride or self._auto_stride(depth, camera)
        v, u = np.mgrid[0:camera.height:stride, 0:camera.width:stride]
        z = depth[v, u]
        valid = np.isfinite(z) & (z >= self.config.min_depth) & (z <= self.config.max_depth)
        u, v, z = u[valid], v[valid], z[valid]
        if not z.size:
            return 0
        points = _back_project(camera, camera_to_world, u, v, z)
        weight = np.full(z.size, self._origin_weight(origin), np.float32)
        if confidence is not None:
            weight *= np.clip(np.asarray(confidence, np.float32)[v, u], 0.0, 1.0)
            keep = weight > 0
            points, weight, u, v = points[keep], weight[keep], u[keep], v[keep]
        colours = np.asarray(rgb)[v, u].astype(np.float32)
        return self.fuse_points(points, colours, weight, view_id, origin)

    def insert_view(self, view, confidence=None) -> int:
        """Fuse a captured keyframe or a generated view where it has depth; return voxels touched.

        A ``GeneratedFrame`` goes in as GENERATED (the lower generated
        weight), only where its conditioning render was empty (``mask``
        False), a ``CaptureView`` as CAPTURED and recorded as an observer of
        its voxels. ``confidence`` scales each pixel's weight as in ``insert``.

        Where the render covered a generated view, its depth is the render's
        own: the nearest point of each pixel, a little in front of the surface
        wherever a pixel spans several points. Fusing that back moved surfaces
        toward the camera segment after segment (along a 105-view path through
        a procedural scene, 5 % of those pixels ended 5-7 cm off the mesh from
        the second segment on), and adds nothing the memory did not hold.
        """
        if view.depth is None:
            return 0
        if isinstance(view, GeneratedFrame):
            new = np.where(view.mask, np.nan, view.depth).astype(np.float32)
            return self.insert(view.rgb, new, view.camera, view.camera_to_world,
                               origin=GENERATED, confidence=confidence)
        return self.insert(view.rgb, view.depth, view.camera, view.camera_to_world,
                           view_id=view.view_id, origin=CAPTURED, confidence=confidence)

    def fuse_points(self, points, colours, weights, view_id: int = NO_VIEW,
                    origin: int = CAPTURED) -> int:
        """Fuse world points (N, 3) with colours (N, 3) in 0-255 and weights; return voxels hit."""
        if not len(points):
            return 0
        self._update_counter += 1
        keys = voxel_keys(points, self.config.voxel_size)
        unique_keys, inverse = np.unique(keys, return_inverse=True)
        weight_sum = np.bincount(inverse, weights, len(unique_keys))
        mean_point = _weighted_mean(points, weights, inverse, weight_sum)
        mean_colour = _weighted_mean(colours, weights, inverse, weight_sum)
        # One view is one observation of a voxel, however many of its pixels fell in it.
        observation_weight = (weight_sum / np.bincount(inverse)).astype(np.float32)
        index = self._lookup(unique_keys)
        new = index < 0
        index[new] = self._append(unique_keys[new], len(unique_keys[new]))
        self._merge(index, new, mean_point, mean_colour, observation_weight, origin)
        if origin == CAPTURED and view_id != NO_VIEW:
            self._record_observer(index, view_id)
        if self._size > self.config.max_points:
            self._evict(self._size - self.config.max_points)
        return len(unique_keys)

    def clear_outside(self, centre, radius: float) -> int:
        """Drop every point farther than ``radius`` from ``centre``; return how many."""
        distance = np.linalg.norm(self.positions - np.asarray(centre, np.float32), axis=1)
        return self._remove(distance > radius)

    def clear(self) -> None:
        """Forget every point."""
        self._remove(np.ones(self._size, bool))

    # ---- rendering -------------------------------------------------------

    def render(self, camera: PinholeCamera, camera_to_world, max_splat: int = 9) -> MemoryRender:
        """Render the memory into a pinhole view with a z-buffer.

        Each point is drawn as a square splat as wide as its voxel appears at
        its depth (1 to ``max_splat`` pixels), so a surface sampled at the
        memory's density has no holes and no background shows through it.
        """
        return render_points(self.positions, self.colours, self.config.voxel_size,
                             camera, camera_to_world, max_splat)

    def coverage(self, camera: PinholeCamera, camera_to_world, max_splat: int = 9) -> np.ndarray:
        """Return the (H, W) pixels some point's splat covers: ``render(...).mask``, cheaper.

        Whether a pixel is covered does not depend on which point wins it, so
        there is no z-buffer and no colour: for coverage figures over many
        views.
        """
        return splat_coverage(self.positions, self.config.voxel_size, camera, camera_to_world,
                              max_splat)

    def observers_of(self, point_indices) -> np.ndarray:
        """Return the (len, observers_per_point) captured view ids of points, -1 for none."""
        return self.observers[np.asarray(point_indices)]

    # ---- persistence -----------------------------------------------------

    def state_dict(self) -> dict:
        """Return every array and the config, enough to rebuild this memory exactly."""
        state = {name: getattr(self, name).copy() for name in _FIELDS}
        state['update_counter'] = np.array(self._update_counter, np.int64)
        state['config'] = asdict(self.config)
        return state

    @classmethod
    def from_state_dict(cls, state: dict) -> 'GeometryMemory':
        """Rebuild a memory saved with ``state_dict``."""
        memory = cls(MemoryConfig(**state['config']))
        size = len(state['positions'])
        memory._arrays = {name: memory._empty(name, max(size, 1024)) for name in _FIELDS}
        for name in _FIELDS:
            memory._arrays[name][:size] = state[name]
        memory._size = size
        memory._update_counter = int(state['update_counter'])
        memory._rebuild_key_index()
        return memory

    # ---- internals -------------------------------------------------------

    def _empty(self, name, capacity):
        dtype, shape = _FIELDS[name]
        shape = tuple(self.config.observers_per_point if s is None else s for s in shape)
        fill = NO_VIEW if name == 'observers' else 0
        return np.full((capacity,) + shape, fill, dtype)

    def _origin_weight(self, origin):
        return self.config.captured_weight if origin == CAPTURED else self.config.generated_weight

    def _auto_stride(self, depth, camera):
        valid = depth[np.isfinite(depth) & (depth > 0)]
        if not valid.size:
            return 1
        pixels_per_voxel = self.config.voxel_size * camera.fx / float(np.median(valid))
        return max(1, int(round(pixels_per_voxel / 2)))

    def _lookup(self, keys):
        """Return the point index of each key, -1 where the voxel is empty."""
        position = np.searchsorted(self._sorted_keys, keys)
        found = position < len(self._sorted_keys)
        found[found] = self._sorted_keys[position[found]] == keys[found]
        index = np.full(len(keys), -1, np.int64)
        index[found] = self._sorted_index[position[found]]
        return index

    def _append(self, keys, count):
        """Allocate ``count`` new points for sorted ``keys``; return their indices."""
        start = self._size
        self._reserve(start + count)
        indices = np.arange(start, start + count, dtype=np.int64)
        position = np.searchsorted(self._sorted_keys, keys)
        self._sorted_keys = np.insert(self._sorted_keys, position, keys)
        self._sorted_index = np.insert(self._sorted_index, position, indices)
        self._size += count
        return indices

    def _reserve(self, capacity):
        current = len(self._arrays['positions'])
        if capacity <= current:
            return
        grown = max(capacity, 2 * current)
        for name, array in self._arrays.items():
            bigger = self._empty(name, grown)
            bigger[:current] = array
            self._arrays[name] = bigger

    def _merge(self, index, new, point, colour, weight, origin):
        a = self._arrays
        old_weight = np.where(new, 0.0, a['confidence'][index]).astype(np.float32)
        old_origin = a['origins'][index]
        if origin == CAPTURED:
            # A captured observation replaces what only generated views had put there.
            old_weight[~new & (old_origin == GENERATED)] = 0.0
            update = np.ones(len(index), bool)
        else:
            # Generated observations never touch a captured voxel.
            update = new | (old_origin == GENERATED)
        index, old_weight, weight = index[update], old_weight[update], weight[update]
        total = old_weight + weight
        share = (weight / total)[:, None]
        a['positions'][index] += share * (point[update] - a['positions'][index])
        a['colours'][index] += share * (colour[update] - a['colours'][index])
        a['confidence'][index] = np.minimum(total, self.config.max_confidence)
        a['counts'][index] = np.where(old_weight > 0, a['counts'][index] + 1, 1)
        a['origins'][index] = origin
        a['last_update'][index] = self._update_counter

    def _record_observer(self, index, view_id):
        """Put ``view_id`` in each point's ring of observers, unless it is there already."""
        observers = self._arrays['observers']
        seen = (observers[index] == view_id).any(axis=1)
        index = index[~seen]
        slot = (self._arrays['counts'][index] - 1) % self.config.observers_per_point
        observers[index, slot] = view_id

    def _evict(self, excess):
        """Drop ``excess`` points: generated before captured, then stale, then unconfident."""
        order = np.lexsort((self.confidence, self.last_update, self.origins == CAPTURED))
        drop = np.zeros(self._size, bool)
        drop[order[:excess]] = True
        self._remove(drop)

    def _remove(self, drop) -> int:
        removed = int(np.count_nonzero(drop))
        if not removed:
            return 0
        keep = ~drop
        kept = int(self._size - removed)
        for name, array in self._arrays.items():
            array[:kept] = array[:self._size][keep]
            array[kept:self._size] = self._empty(name, 1)[0]
        new_index = np.cumsum(keep) - 1
        keep_sorted = keep[self._sorted_index]
        self._sorted_keys = self._sorted_keys[keep_sorted]
        self._sorted_index = new_index[self._sorted_index[keep_sorted]]
        self._size = kept
        return removed

    def _rebuild_key_index(self):
        keys = voxel_keys(self.positions, self.config.voxel_size)
        order = np.argsort(keys, kind='stable')
        self._sorted_keys = keys[order]
        self._sorted_index = order.astype(np.int64)


def voxel_keys(points, voxel_size: float) -> np.ndarray:
    """Return the packed int64 voxel key of each point (N, 3)."""
    cells = np.floor(np.asarray(points, np.float64) / voxel_size).astype(np.int64) + _AXIS_OFFSET
    if cells.size and (cells.min() < 0 or cells.max() > _AXIS_MASK):
        raise ValueError('points lie too far from the origin for the voxel key range')
    return (cells[:, 0] << (2 * _AXIS_BITS)) | (cells[:, 1] << _AXIS_BITS) | cells[:, 2]


def render_points(positions, colours, point_size, camera, camera_to_world, max_splat=9):
    """Z-buffer render points (N, 3) with colours (N, 3) as square splats.

    A point's splat is as wide as ``point_size`` metres appear at its depth,
    clipped to 1..``max_splat`` pixels. ``colours`` may be float (0-255) or
    uint8; only the visible points' colours are converted.
    """
    height, width = camera.height, camera.width
    points, u, v, z, splat = _projected(positions, point_size, camera, camera_to_world,
                                        max_splat)
    pixel, source = _splat_pixels(u, v, splat, width, height)
    depth = np.full(height * width, np.inf, np.float32)
    np.minimum.at(depth, pixel, z[source])
    # The point whose depth won each pixel (ties: any of them).
    winner = z[source] == depth[pixel]
    point_index = np.full(height * width, -1, np.int64)
    point_index[pixel[winner]] = points[source[winner]]
    mask = point_index >= 0
    rgb = np.zeros((height * width, 3), np.uint8)
    visible_colours = colours[point_index[mask]]
    if visible_colours.dtype != np.uint8:
        # Means of 0-255 observations stay in range; +0.5 rounds.
        visible_colours = (visible_colours + 0.5).astype(np.uint8)
    rgb[mask] = visible_colours
    depth[~mask] = np.nan
    shape = (height, width)
    return MemoryRender(rgb.reshape(shape + (3,)), depth.reshape(shape), mask.reshape(shape),
                        point_index.reshape(shape))


def splat_coverage(positions, point_size, camera, camera_to_world, max_splat=9) -> np.ndarray:
    """Return the (H, W) bool pixels the splats of :func:`render_points` cover.

    Each splat size marks its points' centres on a canvas padded by
    ``max_splat`` (a splat may reach in from beyond the edge) and dilates them
    by a square of that size, anchored as the splats are.
    """
    height, width = camera.height, camera.width
    _, u, v, _, splat = _projected(positions, point_size, camera, camera_to_world, max_splat)
    covered = np.zeros((height, width), bool)
    pad = max_splat
    for size in np.flatnonzero(np.bincount(splat)):
        members = splat == size
        centres = np.zeros((height + 2 * pad, width + 2 * pad), np.uint8)
        centres[v[members] + pad, u[members] + pad] = 1
        # A splat of size s spans offsets -(s // 2) .. s - 1 - s // 2 around its centre.
        anchor = size - 1 - size // 2
        spread = cv2.dilate(centres, np.ones((size, size), np.uint8), anchor=(anchor, anchor),
                            borderType=cv2.BORDER_CONSTANT, borderValue=0)
        covered |= spread[pad:pad + height, pad:pad + width] > 0
    return covered


def _projected(positions, point_size, camera, camera_to_world, max_splat):
    """Return (point index, u, v, z, splat size) of the points whose splats reach the image.

    ``u`` and ``v`` are rounded to pixels (int64).
    """
    height, width = camera.height, camera.width
    world_to_camera = np.linalg.inv(np.asarray(camera_to_world, np.float64)).astype(np.float32)
    # One (N, 3) x (3, 3) product for every point: faster than three
    # matrix-vector products, even counting the points behind the camera.
    local = positions @ world_to_camera[:3, :3].T
    local += world_to_camera[:3, 3]
    in_front = np.flatnonzero(local[:, 2] > 1e-3)
    local = local[in_front]
    z = local[:, 2]
    u = camera.fx * local[:, 0] / z + camera.cx
    v = camera.fy * local[:, 1] / z + camera.cy
    # Splats are as wide as 1.5x the voxel's apparent size: points sit anywhere in
    # their voxel, so their spacing on screen varies; the overlap closes the gaps
    # and the z-test sorts it out.
    splat = np.clip(np.ceil(1.5 * camera.fx * point_size / z), 1, max_splat).astype(np.int64)
    half = splat // 2
    near = (u + half >= -0.5) & (u - half < width - 0.5) & (v + half >= -0.5) & (
        v - half < height - 0.5)
    return (in_front[near], np.rint(u[near]).astype(np.int64), np.rint(v[near]).astype(np.int64),
            z[near], splat[near])


def _splat_pixels(u, v, splat, width, height):
    """Return (flat pixel, point) pairs covered by each point's square splat."""
    pixels, sources = [], []
    for size in np.flatnonzero(np.bincount(splat)):
        members = np.flatnonzero(splat == size)
        offsets = np.arange(size) - size // 2
        uu = (u[members, None] + offsets).repeat(size, axis=1)          # (M, size*size)
        vv = np.tile(v[members, None] + offsets, (1, size))
        inside = (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
        pixels.append((vv * width + uu)[inside])
        sources.append(np.broadcast_to(members[:, None], inside.shape)[inside])
    if not pixels:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(pixels), np.concatenate(sources)


def _back_project(camera, camera_to_world, u, v, z):
    x = (u - camera.cx) / camera.fx * z
    y = (v - camera.cy) / camera.fy * z
    return transform_points(camera_to_world, np.stack([x, y, z], axis=1).astype(np.float32))


def _weighted_mean(values, weights, inverse, weight_sum):
    sums = np.stack([np.bincount(inverse, weights * values[:, c], len(weight_sum))
                     for c in range(values.shape[1])], axis=1)
    return (sums / weight_sum[:, None]).astype(np.float32)
