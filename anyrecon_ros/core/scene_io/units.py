# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A scene's units, and the depths stereo searches in it.

A scene with depth images is metric: its depth is in metres, so its poses
are too, and every length of the package (voxel sizes, depth limits,
clearances, steps) means metres. A scene without depth (RGB only: a COLMAP
model, an LLFF capture, a posed folder of photographs) is in its own units,
which may be anything: COLMAP's, a turntable's, or metres. Such a scene is
brought to *nominal metres* before anything else: every pose, sparse point
and near/far bound is divided by ``scale``, the scene units per nominal metre,
chosen so that the scene's typical viewing depth becomes ``NOMINAL_DEPTH``
(2 nominal metres, a room seen by a robot's camera). Every length parameter
then means the same share of the scene whatever its units, so a scene and a
copy of it with every translation multiplied by 20 map alike.

The typical depth comes from the scene, first match wins:

1. ``sparse points`` (a COLMAP model's points3D): the median over views of
   the median depth of the points each view sees;
2. ``near/far bounds`` (LLFF's poses_bounds, a posed folder's near/far): the
   median over frames of sqrt(near * far);
3. ``matched points``: SIFT features matched between neighbouring views and
   triangulated with the poses (``core.depth.triangulation``), as 1;
4. ``camera convergence``: cameras whose optical axes meet (an object
   photographed from around it): the median distance along the axes to the
   point nearest to all of them;
5. ``camera baseline``: otherwise, the median distance between neighbouring
   cameras times ``BASELINE_DEPTH_RATIO`` (the depth that baseline sees at
   stereo's preferred triangulation angle).

A scene whose units cannot be told (a single view without depth, cameras all
at one place and no points or bounds) raises :class:`SceneUnitsError`, with
what would settle it. :func:`nominal_scene` does all of it: it measures the
units and returns the scene in nominal metres. :class:`DepthRanges` gives
multi-view stereo the depth interval to search for each view: from the
sparse points that view sees, from its near/far bounds, else the scene-wide
range.
"""

from dataclasses import dataclass
from dataclasses import replace
import json
import math

import numpy as np

from anyrecon_ros.core.depth.triangulation import triangulate_matches
from anyrecon_ros.core.scene_io.scene import Scene
from anyrecon_ros.core.scene_io.scene import SceneFormatError
from anyrecon_ros.core.scene_io.scene import SparsePoints

# The typical viewing depth, in nominal metres, a scene in its own units is scaled to.
NOMINAL_DEPTH = 2.0
# Multi-view stereo's search range relative to the typical depth where only the
# cameras tell the scene's size: MvsParameters' 0.3-6 m around a 2 m room.
SPREAD_RANGE = (0.15, 3.0)
# Depth a baseline sees at stereo's preferred 3-degree triangulation angle: 1 / tan(3 deg).
BASELINE_DEPTH_RATIO = 1.0 / math.tan(math.radians(3.0))
# Sparse points a view must see for its own depth range (else the scene's).
MIN_VIEW_POINTS = 20
# Points used to judge units and ranges: a random subset of a large model suffices.
MAX_POINTS_USED = 20_000
# Percentiles of the points' depths that bound a range, and the margin around them
# (sparse points miss the nearest and farthest dense surfaces).
POINT_PERCENTILES = (1.0, 99.0)
POINT_MARGIN = 1.5
# Margin around stored near/far bounds.
BOUNDS_MARGIN = 1.25
# Optical axes meet when the smallest eigenvalue of sum(I - a a^T) per camera
# reaches this (axes spread by about 8 degrees), and most cameras face the
# meeting point from a distance larger than they miss it by.
MIN_AXIS_SPREAD = 0.02
MIN_FACING_SHARE = 0.8
MAX_MISS_RATIO = 0.5
# Matched points: views matched (spread over the scene), each with its nearest cameras.
MATCH_VIEWS = 12
MATCH_NEIGHBOURS = 2

METRIC = 'metric'
SPARSE_POINTS = 'sparse points'
BOUNDS = 'near/far bounds'
MATCHED_POINTS = 'matched points'
CONVERGENCE = 'camera convergence'
BASELINE = 'camera baseline'


class SceneUnitsError(SceneFormatError):
    """A scene's units cannot be told; the message says why and what would settle it."""


@dataclass(frozen=True)
class SceneUnits:
    """How a scene's lengths relate to the package's (metres, or nominal metres)."""

    metric: bool           # depth in metres: nothing is rescaled
    scale: float = 1.0     # scene units per nominal metre (1 when metric)
    source: str = METRIC   # what told the scale (METRIC, SPARSE_POINTS, BOUNDS, ...)
    # Scene-wide depth range stereo searches, nominal metres (NaN when metric).
    near: float = float('nan')
    far: float = float('nan')

    def __post_init__(self):
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise SceneUnitsError(f'a scene scale must be a positive number, got {self.scale}')
        if self.metric and self.scale != 1.0:
            raise SceneUnitsError('a metric scene has scale 1')

    def fusion_limits(self, min_depth: float, max_depth: float) -> tuple:
        """Return the memory's (min_depth, max_depth) widened to hold every depth stereo finds.

        Unchanged when metric: a sensor's limits. In nominal metres the
        scene's own range decides, so no stereo depth is dropped.
        """
        if self.metric:
            return min_depth, max_depth
        return min(min_depth, 0.5 * self.near), min(max(max_depth, 2.0 * self.far), 1000.0)

    def describe(self) -> str:
        """Return one line saying what the scene's lengths are."""
        if self.metric:
            return 'metric (the scene has depth in metres)'
        return (f'scene units, {self.scale:.6g} per nominal metre (from its {self.source}); '
                f'stereo searches {self.near * self.scale:.4g}-{self.far * self.scale:.4g} '
                'scene units')

    def to_json(self) -> str:
        """Return the units as a JSON object (stored in a map's metadata)."""
        fields = {'metric': self.metric, 'scale': self.scale, 'source': self.source}
        if not self.metric:
            fields.update(near=self.near, far=self.far)
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> 'SceneUnits':
        """Return the units stored by :meth:`to_json`; ValueError when malformed."""
        try:
            fields = json.loads(text)
            return cls(metric=bool(fields['metric']), scale=float(fields['scale']),
                       source=str(fields['source']),
                       near=float(fields.get('near', 'nan')),
                       far=float(fields.get('far', 'nan')))
        except (TypeError, KeyError, json.JSONDecodeError) as error:
            raise ValueError(f'malformed scene units {text!r} ({error})') from None


METRIC_UNITS = SceneUnits(metric=True)


def nominal_scene(scene: Scene) -> tuple:
    """Return (``scene`` in nominal metres, its SceneUnits); a metric scene is unchanged.

    A scene without depth, sparse points or near/far bounds gets the points
    of its matched features (``scene.points``) first, which then tell its
    units and every view's stereo range.
    """
    if is_metric(scene):
        return scene, METRIC_UNITS
    matched = False
    if scene.points is None and not any(frame.bounds for frame in scene.frames):
        points = matched_points(scene)
        if len(points.xyz):
            scene, matched = replace(scene, points=points), True
    units = scene_units(scene)
    if matched and units.source == SPARSE_POINTS:
        units = replace(units, source=MATCHED_POINTS)
    return in_nominal_units(scene, units), units


def is_metric(scene: Scene) -> bool:
    """Return whether the scene has depth images (in metres), and so metric poses."""
    return any(frame.depth_path is not None for frame in scene.frames)


def matched_points(scene: Scene) -> SparsePoints:
    """Return the triangulated feature matches of up to MATCH_VIEWS views and their neighbours."""
    centres = scene.poses[:, :3, 3]
    chosen = np.unique(np.linspace(0, len(scene) - 1, min(MATCH_VIEWS, len(scene))).round())
    pairs = set()
    for index in chosen.astype(int):
        distance = np.linalg.norm(centres - centres[index], axis=1)
        distance[distance <= 0] = np.inf
        for partner in np.argsort(distance)[:MATCH_NEIGHBOURS]:
            if np.isfinite(distance[partner]):
                pairs.add((int(index), int(partner)))
    indices = sorted({index for pair in pairs for index in pair})
    views = {index: scene.view(index) for index in indices}
    xyz, rgb = triangulate_matches(views, sorted(pairs))
    return SparsePoints(xyz=xyz, rgb=rgb)


def scene_units(scene: Scene) -> SceneUnits:
    """Return the units of ``scene``: metric with depth, else from its points, bounds, cameras."""
    if is_metric(scene):
        return METRIC_UNITS
    where = scene.source or scene.name or 'the scene'
    if len(scene) < 2:
        raise SceneUnitsError(
            f"{where}: one view without depth: stereo needs two, and nothing tells the scene's "
            'units; give depth images or more views')
    poses = scene.poses
    typical, near, far, source = _from_points(scene.points, poses, scene.camera)
    if typical is None:
        typical, near, far, source = _from_bounds(scene.frames)
    if typical is None:
        typical, source = _from_cameras(poses, where)
        near, far = typical * SPREAD_RANGE[0], typical * SPREAD_RANGE[1]
    if not (math.isfinite(typical) and typical > 0 and 0 < near < far
            and math.isfinite(far)):
        raise SceneUnitsError(f'{where}: no usable depth range from its {source} '
                              f'(typical depth {typical:g}, range {near:g}-{far:g})')
    scale = typical / NOMINAL_DEPTH
    return SceneUnits(metric=False, scale=scale, source=source, near=near / scale,
                      far=far / scale)


def in_nominal_units(scene: Scene, units: SceneUnits) -> Scene:
    """Return ``scene`` with poses, sparse points and bounds in nominal metres (divided by scale).

    A metric scene comes back unchanged.
    """
    if units.metric or units.scale == 1.0:
        return scene
    return scaled_scene(scene, 1.0 / units.scale)


def scaled_scene(scene: Scene, factor: float) -> Scene:
    """Return ``scene`` with every length (translations, points, bounds) times ``factor``.

    A scene with depth images is refused: its depth is in metres, a fact a
    factor would break.
    """
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f'a scale factor must be a positive number, got {factor}')
    if is_metric(scene):
        raise ValueError(f'{scene.source}: a scene with depth images is metric; scaling its '
                         'poses would contradict its depth')
    frames = [replace(frame, camera_to_world=_scaled_pose(frame.camera_to_world, factor),
                      bounds=None if frame.bounds is None else
                      tuple(bound * factor for bound in frame.bounds))
              for frame in scene.frames]
    points = None if scene.points is None else SparsePoints(scene.points.xyz * factor,
                                                            scene.points.rgb)
    return replace(scene, frames=frames, points=points)


def _scaled_pose(pose, factor):
    pose = np.array(pose, dtype=np.float64)
    pose[:3, 3] *= factor
    return pose


class DepthRanges:
    """The depth interval multi-view stereo searches for each view, in nominal metres.

    From the sparse points the view sees (at least ``MIN_VIEW_POINTS``), else
    from the near/far bounds of the scene frame at the view's pose, else the
    scene-wide range. ``scene`` is in nominal units (:func:`in_nominal_units`).
    """

    def __init__(self, scene: Scene, units: SceneUnits):
        if units.metric:
            raise ValueError('a metric scene searches the fixed metric depth range')
        self.units = units
        self._points = _subset(scene.points)
        bounded = [frame for frame in scene.frames if frame.bounds is not None]
        self._centres = np.array([frame.camera_to_world[:3, 3] for frame in bounded])
        self._bounds = [frame.bounds for frame in bounded]

    def __call__(self, view) -> tuple:
        """Return (near, far) for a view (anything with ``camera`` and ``camera_to_world``)."""
        if self._points is not None:
            depths = _visible_depths(self._points, view.camera_to_world, view.camera)
            if depths.size >= MIN_VIEW_POINTS:
                return _range_of(depths)
        if len(self._bounds):
            distance = np.linalg.norm(self._centres - view.camera_to_world[:3, 3], axis=1)
            nearest = int(np.argmin(distance))
            if distance[nearest] <= 1e-6 * max(1.0, self.units.far):
                near, far = self._bounds[nearest]
                return near / BOUNDS_MARGIN, far * BOUNDS_MARGIN
        return self.units.near, self.units.far


def _subset(points):
    if points is None or not len(points.xyz):
        return None
    xyz = np.asarray(points.xyz, np.float64)
    xyz = xyz[np.all(np.isfinite(xyz), axis=1)]
    if len(xyz) > MAX_POINTS_USED:
        xyz = xyz[np.random.default_rng(0).choice(len(xyz), MAX_POINTS_USED, replace=False)]
    return xyz


def _visible_depths(xyz, camera_to_world, camera):
    """Return the depths of the points that land in the view's image, in front of it."""
    pose = np.asarray(camera_to_world, np.float64)
    local = (xyz - pose[:3, 3]) @ pose[:3, :3]
    z = local[:, 2]
    ahead = z > 0
    z_safe = np.where(ahead, z, 1.0)
    u = camera.fx * local[:, 0] / z_safe + camera.cx
    v = camera.fy * local[:, 1] / z_safe + camera.cy
    inside = ahead & (u >= -0.5) & (u < camera.width - 0.5) & (v >= -0.5) & (
        v < camera.height - 0.5)
    return z[inside]


def _range_of(depths):
    low, high = np.percentile(depths, POINT_PERCENTILES)
    return float(low / POINT_MARGIN), float(high * POINT_MARGIN)


def _from_points(points, poses, camera):
    xyz = _subset(points)
    if xyz is None:
        return None, None, None, None
    medians, seen = [], []
    for pose in poses:
        depths = _visible_depths(xyz, pose, camera)
        if depths.size >= MIN_VIEW_POINTS:
            medians.append(np.median(depths))
            seen.append(depths)
    if not medians:
        return None, None, None, None
    near, far = _range_of(np.concatenate(seen))
    return float(np.median(medians)), near, far, SPARSE_POINTS


def _from_bounds(frames):
    bounds = np.array([frame.bounds for frame in frames if frame.bounds is not None])
    if not len(bounds):
        return None, None, None, None
    typical = float(np.median(np.sqrt(bounds[:, 0] * bounds[:, 1])))
    return (typical, float(bounds[:, 0].min()) / BOUNDS_MARGIN,
            float(bounds[:, 1].max()) * BOUNDS_MARGIN, BOUNDS)


def _from_cameras(poses, where):
    """Return (typical depth, source) from the cameras alone; SceneUnitsError if degenerate."""
    centres = poses[:, :3, 3]
    spread = float(np.max(np.linalg.norm(centres - centres.mean(axis=0), axis=1)))
    if not spread > 1e-9 * max(1.0, float(np.max(np.abs(centres)))):
        raise SceneUnitsError(
            f'{where}: its {len(poses)} views have no depth, sparse points or near/far bounds, '
            f'and their cameras are all at one place (spread {spread:.3g}): neither the '
            "scene's units nor stereo depth can be had; give depth images, a COLMAP model "
            'with points3D, or per-frame near/far')
    typical = _convergence_depth(poses)
    if typical is not None:
        return typical, CONVERGENCE
    distances = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    distances[distances <= 0] = np.inf
    nearest = distances.min(axis=1)
    return float(np.median(nearest[np.isfinite(nearest)])) * BASELINE_DEPTH_RATIO, BASELINE


def _convergence_depth(poses):
    """Return the median depth of the point nearest every optical axis, or None if they diverge."""
    axes, centres = poses[:, :3, 2], poses[:, :3, 3]
    projectors = np.eye(3) - axes[:, :, None] * axes[:, None, :]
    system = projectors.sum(axis=0)
    if np.linalg.eigvalsh(system).min() / len(poses) < MIN_AXIS_SPREAD:
        return None
    meeting = np.linalg.solve(system, np.einsum('nij,nj->i', projectors, centres))
    offsets = meeting - centres
    along = np.einsum('ni,ni->n', offsets, axes)
    miss = np.linalg.norm(np.einsum('nij,nj->ni', projectors, offsets), axis=1)
    facing = along > 0
    if facing.mean() < MIN_FACING_SHARE:
        return None
    typical = float(np.median(along[facing]))
    if float(np.median(miss[facing])) > MAX_MISS_RATIO * typical:
        return None
    return typical
