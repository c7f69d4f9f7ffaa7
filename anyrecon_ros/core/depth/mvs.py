# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""CPU multi-view stereo: depth for one reference view from a few posed source views.

A plane sweep over inverse depth at a reduced working resolution: every
source is warped onto each fronto-parallel plane of the reference camera,
matched by zero-mean normalised cross-correlation (ZNCC) over a small window
of grey values, and the per-source costs are combined robustly (mean of the
best half, so a source that is occluded or out of view does not spoil the
match). Semi-global aggregation along four scanline directions carries
matches into weakly textured parts. The best plane wins, a parabola through
its neighbours refines it below one plane, and the margin to the best rival
plane gives a confidence. A geometric check then estimates depth in a few
sources as well and keeps only reference pixels whose depth survives the
round trip into them and back; on the embedded scene it removes most gross
errors, which the photometric confidence alone does not.
"""

from dataclasses import dataclass, replace
import math

import cv2
import numpy as np

from anyrecon_ros.core.transforms import transform_points
from anyrecon_ros.core.view_bank import CaptureView

# Planes this close to the best one are its own peak, not a rival match.
PEAK_HALF_WIDTH = 2
# Cost given to a source that cannot see a pixel on a plane: ZNCC of zero,
# "no evidence", so it neither helps nor forbids that plane.
UNSEEN_COST = 1.0
# Triangulation angle (degrees) that select_sources prefers: wide enough to
# resolve depth, narrow enough that the views still look alike.
PREFERRED_ANGLE = 3.0
# Grey value beyond the source image: bilinear weights come in steps of
# 1/1024, so even the smallest share of it turns a sample negative.
OUTSIDE = -1.0e4
# Grey-level step (0-1) at which the semi-global jump penalty is halved.
JUMP_EDGE = 0.05
# The semi-global jump penalty, in one-plane steps, away from image edges.
JUMP_FACTOR = 4.0


@dataclass(frozen=True)
class MvsParameters:
    """Settings of the plane sweep; the defaults suit rooms seen at 640x480."""

    min_depth: float = 0.3          # metres, nearest plane
    max_depth: float = 6.0          # metres, farthest plane
    planes: int = 96                # planes, uniform in inverse depth
    scale: float = 0.375            # working resolution relative to the reference image
    window: int = 9                 # ZNCC window side in working-resolution pixels (odd)
    min_texture: float = 0.01       # grey std (0-1) of a window below which aggregation fills it
    min_confidence: float = 0.1     # pixels below it are invalid
    smoothness: float = 0.2         # semi-global penalty for a one-plane step; 0 turns it off
    consistency_views: int = 2      # sources that get a depth map for the check; 0 turns it off
    consistency_partners: int = 2   # views each of those sweeps against (the reference first)
    min_consistent_views: int = 1   # checks a pixel must pass to be kept
    consistency_pixels: float = 2.0   # round-trip reprojection error, working-resolution pixels
    consistency_depth: float = 0.03   # round-trip relative depth difference

    def __post_init__(self):
        """Refuse settings the sweep cannot work with."""
        if not 0.0 < self.min_depth < self.max_depth or not math.isfinite(self.max_depth):
            raise ValueError(f'need 0 < min_depth < max_depth, got {self.min_depth}, '
                             f'{self.max_depth}')
        if self.planes < 3:
            raise ValueError(f'need at least 3 planes, got {self.planes}')
        if not 0.0 < self.scale <= 1.0:
            raise ValueError(f'scale must be in (0, 1], got {self.scale}')
        if self.window < 3 or self.window % 2 == 0:
            raise ValueError(f'window must be an odd number >= 3, got {self.window}')
        if self.consistency_views < 0 or self.consistency_partners < 1:
            raise ValueError('consistency_views must be >= 0 and consistency_partners >= 1')
        if self.consistency_views and not 1 <= self.min_consistent_views <= \
                self.consistency_views:
            raise ValueError('min_consistent_views must be between 1 and consistency_views')

    def inverse_depths(self) -> np.ndarray:
        """Return the planes' inverse depths, far to near, uniformly spaced."""
        return np.linspace(1.0 / self.max_depth, 1.0 / self.min_depth, self.planes)


@dataclass
class DepthEstimate:
    """Depth of a reference view and how much to trust each pixel of it."""

    depth: np.ndarray         # (H, W) float32 metres at full resolution, NaN = invalid
    confidence: np.ndarray    # (H, W) float32 in [0, 1], 0 where depth is invalid

    @property
    def valid(self) -> np.ndarray:
        """Return the mask of pixels with a depth."""
        return np.isfinite(self.depth)


@dataclass
class _SweepView:
    """A view reduced to what the sweep needs, at the working resolution."""

    grey: np.ndarray              # (h, w) float32 in [0, 1]
    intrinsics: np.ndarray        # (3, 3) at the working resolution
    camera_to_world: np.ndarray
    world_to_camera: np.ndarray

    @property
    def shape(self):
        return self.grey.shape


def estimate_depth(reference: CaptureView, sources: list,
                   parameters: MvsParameters = MvsParameters()) -> DepthEstimate:
    """Estimate the reference view's depth from source views (best first, as select_sources).

    Cameras must be undistorted pinholes. The reference's own depth, if any,
    is not used. The first ``consistency_views`` sources also get a depth map
    of their own (swept against the reference and the sources that suit them
    best) for the geometric check.
    """
    sources = list(sources)
    if not sources:
        raise ValueError('multi-view stereo needs at least one source view')
    if any(source is reference or source.view_id == reference.view_id for source in sources):
        raise ValueError(f'view {reference.view_id} cannot be a source of itself')
    distorted = [view.view_id for view in [reference] + sources if view.camera.has_distortion]
    if distorted:
        raise ValueError(f'views {distorted} have lens distortion; the plane sweep needs '
                         f'pinhole images (undistort them first)')
    views = {id(view): _sweep_view(view, parameters.scale) for view in [reference] + sources}
    ref_view = views[id(reference)]
    inverse_depth, confidence = _sweep(ref_view, [views[id(s)] for s in sources], parameters)
    checks = []
    for checked in sources[:parameters.consistency_views]:
        # The checked view sweeps against the reference, which it must agree
        # with, plus the other sources that suit it best.
        others = [view for view in sources if view is not checked]
        partners = [reference] + select_sources(checked, others,
                                                parameters.consistency_partners - 1)
        # Every depth the checked view has counts: agreeing with the reference
        # is the test, and a wrong depth rarely agrees by chance.
        check_inverse_depth, _ = _sweep(views[id(checked)], [views[id(p)] for p in partners],
                                        replace(parameters, min_confidence=0.0))
        checks.append(_round_trip_consistent(ref_view, inverse_depth, views[id(checked)],
                                             check_inverse_depth, parameters))
    if checks:
        kept = np.sum(checks, axis=0) >= parameters.min_consistent_views
        inverse_depth = np.where(kept, inverse_depth, np.nan)
    size = (reference.camera.width, reference.camera.height)
    inverse_depth = _upsample(inverse_depth, size)
    confidence = cv2.resize(confidence, size, interpolation=cv2.INTER_LINEAR)
    valid = np.isfinite(inverse_depth)
    depth = np.full(inverse_depth.shape, np.nan, dtype=np.float32)
    depth[valid] = 1.0 / inverse_depth[valid]
    confidence = np.where(valid, np.clip(confidence, 0.0, 1.0), 0.0).astype(np.float32)
    return DepthEstimate(depth=depth, confidence=confidence)


def select_sources(reference: CaptureView, candidates: list, k: int,
                   scene_depth: float = 2.0) -> list:
    """Return up to ``k`` candidates that suit stereo with ``reference``, best first.

    Poses and intrinsics only, no depth or memory: a grid of reference pixels
    is placed at ``scene_depth`` metres; a candidate scores by the fraction of
    those points it sees, times a preference for a triangulation angle near
    PREFERRED_ANGLE degrees. Candidates at the reference's position (no
    baseline, no depth) and the reference itself are never chosen.
    """
    points = _grid_points(reference, scene_depth)
    centre = reference.camera_to_world[:3, 3]
    scored = []
    for candidate in candidates:
        if candidate is reference or candidate.view_id == reference.view_id:
            continue
        score = _source_score(points, centre, candidate)
        if score > 0.0:
            scored.append((score, candidate))
    scored.sort(key=lambda pair: -pair[0])
    return [candidate for _, candidate in scored[:k]]


def _grid_points(view, depth, columns=8, rows=6):
    """Return world points of a grid of the view's pixels at one depth."""
    camera = view.camera
    u, v = np.meshgrid((np.arange(columns) + 0.5) * camera.width / columns,
                       (np.arange(rows) + 0.5) * camera.height / rows)
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    points_camera = depth * pixels @ np.linalg.inv(camera.K).T
    return transform_points(view.camera_to_world, points_camera)


def _source_score(points, reference_centre, candidate):
    """Return overlap times the triangulation-angle preference; 0 for a useless candidate."""
    world_to_camera = np.linalg.inv(candidate.camera_to_world)
    in_camera = transform_points(world_to_camera, points)
    camera = candidate.camera
    z = in_camera[:, 2]
    ahead = z > 1e-6
    u = camera.fx * in_camera[:, 0] / np.where(ahead, z, 1.0) + camera.cx
    v = camera.fy * in_camera[:, 1] / np.where(ahead, z, 1.0) + camera.cy
    seen = ahead & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    if not seen.any():
        return 0.0
    to_reference = reference_centre - points[seen]
    to_candidate = candidate.camera_to_world[:3, 3] - points[seen]
    cosine = np.sum(to_reference * to_candidate, axis=1) / (
        np.linalg.norm(to_reference, axis=1) * np.linalg.norm(to_candidate, axis=1))
    angle = math.degrees(float(np.median(np.arccos(np.clip(cosine, -1.0, 1.0)))))
    if angle < 0.25:
        return 0.0
    # Below the preferred angle depth resolution falls quickly; above it the
    # views' appearance drifts apart more slowly, so that side is wider.
    spread = PREFERRED_ANGLE / 2 if angle < PREFERRED_ANGLE else 2 * PREFERRED_ANGLE
    preference = math.exp(-0.5 * ((angle - PREFERRED_ANGLE) / spread) ** 2)
    return float(seen.mean()) * preference


def _sweep_view(view: CaptureView, scale: float) -> _SweepView:
    camera = view.camera
    size = (max(8, round(camera.width * scale)), max(8, round(camera.height * scale)))
    grey = cv2.cvtColor(view.rgb, cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    sx, sy = size[0] / camera.width, size[1] / camera.height
    # Pixel centres, not corners, keep their place when the image shrinks.
    intrinsics = np.array([[camera.fx * sx, 0.0, (camera.cx + 0.5) * sx - 0.5],
                           [0.0, camera.fy * sy, (camera.cy + 0.5) * sy - 0.5],
                           [0.0, 0.0, 1.0]])
    camera_to_world = np.asarray(view.camera_to_world, dtype=np.float64)
    return _SweepView(grey, intrinsics, camera_to_world,
                      np.linalg.inv(camera_to_world))


def _box(image, window):
    return cv2.boxFilter(image, -1, (window, window), borderType=cv2.BORDER_REFLECT)


def _sweep(reference: _SweepView, sources: list, parameters: MvsParameters):
    """Return (inverse depth with NaN where invalid, confidence) at the working resolution."""
    height, width = reference.shape
    window = parameters.window
    grey = reference.grey
    mean = _box(grey, window)
    variance = np.maximum(_box(grey * grey, window) - mean * mean, 0.0)
    textured = np.sqrt(variance) >= parameters.min_texture
    inverse_depths = parameters.inverse_depths()
    costs = np.empty((height, width, len(inverse_depths)), dtype=np.float32)
    best_half = max(1, (len(sources) + 1) // 2)
    for plane, inverse_depth in enumerate(inverse_depths):
        source_costs = [_zncc_cost(reference, source, inverse_depth, mean, variance, window)
                        for source in sources]
        costs[:, :, plane] = _mean_of_lowest(source_costs, best_half)
    # A flat window matches every plane equally badly or well: no evidence,
    # so the semi-global pass fills it from its textured surroundings.
    costs[~textured] = UNSEEN_COST
    if parameters.smoothness > 0:
        costs = _semi_global(costs, grey, parameters.smoothness)
    return _winner_take_all(costs, inverse_depths, parameters.min_confidence)


def _zncc_cost(reference, source, inverse_depth, mean, variance, window):
    """Return 1 - ZNCC of the reference with the source warped through one plane."""
    height, width = reference.shape
    homography = _plane_homography(reference, source, inverse_depth)
    # Outside the source the border value is so negative that any share of it
    # in a bilinear sample leaves a negative grey: that marks who sees what.
    warped = cv2.warpPerspective(source.grey, homography, (width, height),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=OUTSIDE)
    seen = warped >= 0.0
    np.maximum(warped, 0.0, out=warped)
    grey = reference.grey
    source_mean = _box(warped, window)
    covariance = _box(grey * warped, window) - mean * source_mean
    source_variance = np.maximum(_box(warped * warped, window) - source_mean * source_mean,
                                 0.0)
    cost = 1.0 - covariance / np.sqrt(variance * source_variance + 1e-12)
    if not _plane_ahead_of(reference, source, inverse_depth):
        seen &= _pixels_ahead_of(reference, source, inverse_depth)
    cost[~seen] = UNSEEN_COST
    return cost


def _mean_of_lowest(arrays, count):
    """Return the per-pixel mean of the ``count`` lowest of a few same-shaped arrays.

    A partial bubble sort with elementwise min/max: for the handful of sources
    of a sweep it is many times faster than sorting a stacked array.
    """
    arrays = list(arrays)
    if count >= len(arrays):
        return sum(arrays) / len(arrays)
    for slot in range(count):
        for index in range(len(arrays) - 1, slot, -1):
            low = np.minimum(arrays[index - 1], arrays[index])
            arrays[index] = np.maximum(arrays[index - 1], arrays[index])
            arrays[index - 1] = low
    return sum(arrays[:count]) / count


def _semi_global(costs, grey, smoothness):
    """Return the (h, w, planes) cost volume aggregated along four scanline directions (SGM).

    Each direction carries the cheapest path cost with a penalty of
    ``smoothness`` for a one-plane step and a larger one for a jump; the jump
    penalty is lowered across image edges, where depth edges usually are.
    """
    gradient_x = np.abs(np.diff(grey, axis=1, prepend=grey[:, :1]))
    gradient_y = np.abs(np.diff(grey, axis=0, prepend=grey[:1]))
    jump_x = (JUMP_FACTOR * smoothness / (1.0 + gradient_x / JUMP_EDGE)).astype(np.float32)
    jump_y = (JUMP_FACTOR * smoothness / (1.0 + gradient_y / JUMP_EDGE)).astype(np.float32)
    total = np.zeros_like(costs)
    for axis, jump in ((1, jump_x), (0, jump_y)):
        for forward in (True, False):
            _scanline_aggregate(costs, jump, smoothness, axis, forward, total)
    total /= 4.0
    return total


def _scanline_aggregate(volume, jump, step_penalty, axis, forward, total):
    """Add one direction's path costs to ``total``, stepping along ``axis`` (0 rows, 1 columns)."""
    count = volume.shape[axis]
    order = range(count) if forward else range(count - 1, -1, -1)
    previous = None
    for index in order:
        line = (index, slice(None)) if axis == 0 else (slice(None), index)
        cost = volume[line]
        if previous is None:
            path = cost.copy()
        else:
            lowest = previous.min(axis=1, keepdims=True)
            neighbour = np.minimum(previous[:, :-1], previous[:, 1:])
            neighbour += step_penalty
            best = np.minimum(previous, lowest + jump[line][:, None])
            np.minimum(best[:, 1:], neighbour, out=best[:, 1:])
            np.minimum(best[:, :-1], neighbour, out=best[:, :-1])
            best -= lowest
            path = best
            path += cost
        total[line] += path
        previous = path


def _plane_homography(reference, source, inverse_depth):
    """Return the reference-to-source homography of the plane z = 1 / inverse_depth.

    A point on the plane is X = ray / inverse_depth, so its source pixel is
    K_s (R ray + t inverse_depth), up to scale.
    """
    rotation, translation = _relative_pose(reference, source)
    mapping = rotation + np.outer(translation, [0.0, 0.0, inverse_depth])
    return source.intrinsics @ mapping @ np.linalg.inv(reference.intrinsics)


def _relative_pose(reference, source):
    relative = source.world_to_camera @ reference.camera_to_world
    return relative[:3, :3], relative[:3, 3]


def _source_depth_factor(reference, source, inverse_depth, pixels):
    """Return z_source * inverse_depth of plane points at ``pixels`` (3, n); > 0 is ahead."""
    rotation, translation = _relative_pose(reference, source)
    rays = np.linalg.inv(reference.intrinsics) @ pixels
    return rotation[2] @ rays + translation[2] * inverse_depth


def _plane_ahead_of(reference, source, inverse_depth):
    """Return whether the whole plane lies in front of the source camera.

    The source depth of plane points is affine in the pixel coordinates, so
    checking the four image corners suffices.
    """
    height, width = reference.shape
    corners = np.array([[0.0, width - 1.0, 0.0, width - 1.0],
                        [0.0, 0.0, height - 1.0, height - 1.0], [1.0, 1.0, 1.0, 1.0]])
    return bool(np.all(_source_depth_factor(reference, source, inverse_depth, corners) > 1e-9))


def _pixels_ahead_of(reference, source, inverse_depth):
    """Return which reference pixels' plane points lie in front of the source camera."""
    height, width = reference.shape
    # Affine in (u, v): evaluate the three coefficients, then broadcast.
    basis = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    at_origin, at_u, at_v = _source_depth_factor(reference, source, inverse_depth, basis)
    u_term = (at_u - at_origin) * np.arange(width)
    v_term = (at_v - at_origin) * np.arange(height)
    return (at_origin + v_term[:, None] + u_term[None, :]) > 1e-9


def _winner_take_all(costs, inverse_depths, min_confidence):
    """Return the best plane per pixel refined by a parabola, and a confidence."""
    planes = len(inverse_depths)
    best = np.argmin(costs, axis=-1)
    best_cost = np.take_along_axis(costs, best[..., None], -1)[..., 0]
    before = np.take_along_axis(costs, np.maximum(best - 1, 0)[..., None], -1)[..., 0]
    after = np.take_along_axis(costs, np.minimum(best + 1, planes - 1)[..., None], -1)[..., 0]
    curvature = before - 2.0 * best_cost + after
    offset = np.where(curvature > 1e-6, 0.5 * (before - after) / np.maximum(curvature, 1e-6),
                      0.0)
    offset = np.clip(offset, -0.5, 0.5)
    step = inverse_depths[1] - inverse_depths[0]
    inverse_depth = inverse_depths[0] + (best + offset) * step
    # Uniqueness: how much worse the best match outside this peak is.
    plane_index = np.arange(planes)
    peak = np.abs(plane_index - best[..., None]) <= PEAK_HALF_WIDTH
    rival_cost = np.where(peak, np.inf, costs).min(axis=-1)
    confidence = np.clip(1.0 - best_cost / np.maximum(rival_cost, 1e-6), 0.0, 1.0)
    # A best plane at either end of the range is usually a surface beyond it.
    inside = (best > 0) & (best < planes - 1)
    valid = inside & (confidence >= min_confidence)
    confidence = np.where(valid, confidence, 0.0).astype(np.float32)
    return np.where(valid, inverse_depth, np.nan).astype(np.float32), confidence


def _round_trip_consistent(reference, inverse_depth, other, other_inverse_depth, parameters):
    """Return which reference pixels come back to themselves through the other view's depth.

    Each valid reference pixel is lifted with its depth, projected into the
    other view, lifted again with the depth estimated there and projected
    back; it passes when it lands within ``consistency_pixels`` of where it
    started at a depth within ``consistency_depth`` of its own.
    """
    height, width = reference.shape
    consistent = np.zeros((height, width), dtype=bool)
    rows, columns = np.nonzero(np.isfinite(inverse_depth))
    depth = 1.0 / inverse_depth[rows, columns].astype(np.float64)
    pixels = np.stack([columns, rows, np.ones(rows.size)]).astype(np.float64)
    relative = other.world_to_camera @ reference.camera_to_world
    in_other = relative[:3, :3] @ (np.linalg.inv(reference.intrinsics) @ pixels * depth) \
        + relative[:3, 3:]
    ahead = in_other[2] > 1e-6
    projected = other.intrinsics @ in_other
    z = np.where(ahead, projected[2], 1.0)
    u, v = projected[0] / z, projected[1] / z
    iu, iv = np.round(u).astype(np.int64), np.round(v).astype(np.int64)
    inside = ahead & (iu >= 0) & (iu < other.shape[1]) & (iv >= 0) & (iv < other.shape[0])
    other_inverse = np.full(rows.size, np.nan)
    other_inverse[inside] = other_inverse_depth[iv[inside], iu[inside]]
    usable = np.isfinite(other_inverse)
    if not usable.any():
        return consistent
    other_pixels = np.stack([u, v, np.ones(rows.size)])[:, usable]
    lifted = np.linalg.inv(other.intrinsics) @ other_pixels / other_inverse[usable]
    inverse_relative = np.linalg.inv(relative)
    back = reference.intrinsics @ (inverse_relative[:3, :3] @ lifted
                                   + inverse_relative[:3, 3:])
    back_depth = back[2]
    ahead_back = back_depth > 1e-6
    back_z = np.where(ahead_back, back_depth, 1.0)
    error = np.hypot(back[0] / back_z - columns[usable], back[1] / back_z - rows[usable])
    depth_error = np.abs(back_depth - depth[usable]) / depth[usable]
    passed = ahead_back & (error <= parameters.consistency_pixels) & \
        (depth_error <= parameters.consistency_depth)
    consistent[rows[usable][passed], columns[usable][passed]] = True
    return consistent


def _upsample(inverse_depth, size):
    """Return inverse depth at ``size`` (w, h), interpolating between valid neighbours only."""
    valid = np.isfinite(inverse_depth).astype(np.float32)
    filled = np.where(valid > 0, inverse_depth, 0.0).astype(np.float32)
    weight = cv2.resize(valid, size, interpolation=cv2.INTER_LINEAR)
    value = cv2.resize(filled, size, interpolation=cv2.INTER_LINEAR)
    # Nearest-neighbour validity keeps the estimate's footprint; dividing by
    # the weight averages only valid neighbours, never a hole's zero.
    keep = cv2.resize(valid, size, interpolation=cv2.INTER_NEAREST) > 0
    keep &= weight > 1e-3
    return np.where(keep, value / np.maximum(weight, 1e-3), np.nan).astype(np.float32)
