# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Geometry-aware capture-view retrieval.

For a target view, the useful references are the captured keyframes that
observed the memory points the target really sees. The memory is rendered into
the target with a z-buffer, so a keyframe that only saw surfaces hidden behind
a wall does not count (the official AnyRecon code projects points with no
occlusion test, and picks such views). Among those keyframes, views are chosen
greedily by how many still-uncovered visible points they add: a view that sees
the same points as one already chosen adds little, which is the diversity term.
"""

import numpy as np

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import NO_VIEW
from anyrecon_ros.core.transforms import transform_points


def visible_points(memory: GeometryMemory, camera, camera_to_world) -> np.ndarray:
    """Return the indices of the memory points visible (after the z-buffer) in a view."""
    return _rendered_points(memory, memory.render(camera, camera_to_world))


def _rendered_points(memory: GeometryMemory, render) -> np.ndarray:
    indices = render.point_index
    # A flag per memory point is cheaper than sorting or hashing the pixels' indices.
    seen = np.zeros(len(memory), bool)
    seen[indices[indices >= 0]] = True
    return np.flatnonzero(seen)


def retrieve_views(memory: GeometryMemory, camera, target_poses, k: int,
                   min_new_fraction: float = 0.01, render_width: int = 160) -> list:
    """Return up to ``k`` captured view ids for the union of what the targets see.

    One target pose gives the views for that view; a trajectory segment's
    poses give the views for the whole segment (the union of visible points),
    still capped at ``k``. Views are ordered by selection, most useful first.
    A view that would add less than ``min_new_fraction`` of the visible points
    is not taken: a sliver seen through a doorway is no reference. Visibility
    is judged at ``render_width`` pixels across, plenty to tell which surfaces
    a view sees, and 16 times cheaper than 640x480.
    """
    camera = camera.bounded(render_width)
    poses = np.asarray(target_poses, np.float64).reshape(-1, 4, 4)
    return _covering_views(memory, [visible_points(memory, camera, pose) for pose in poses], k,
                           min_new_fraction)


def retrieve_views_for_renders(memory: GeometryMemory, renders, k: int,
                               min_new_fraction: float = 0.01) -> list:
    """Return :func:`retrieve_views`' choice for views already rendered from ``memory``.

    ``renders`` are MemoryRenders of ``memory`` as it is now (their
    ``point_index`` says which points each view sees). The loop renders every
    view of a segment to condition the generator; judging visibility from
    those renders spares rendering each view a second time for retrieval.
    """
    return _covering_views(memory, [_rendered_points(memory, render) for render in renders], k,
                           min_new_fraction)


def _covering_views(memory, visible, k, min_new_fraction) -> list:
    """Choose views for the union of ``visible`` (arrays of point indices), as retrieve_views."""
    points = visible[0] if len(visible) == 1 else np.unique(np.concatenate(visible))
    min_new_points = max(1, int(np.ceil(min_new_fraction * len(points))))
    return select_covering_views(memory.observers_of(points), k, min_new_points)


def select_covering_views(observers: np.ndarray, k: int, min_new_points: int = 1) -> list:
    """Greedy maximum coverage over points' observer lists (rows of view ids, -1 empty)."""
    point_of_pair, slot = np.nonzero(observers != NO_VIEW)
    if not point_of_pair.size:
        return []
    view_ids, view_of_pair = np.unique(observers[point_of_pair, slot], return_inverse=True)
    covered = np.zeros(len(observers), bool)
    chosen = []
    for _ in range(min(k, len(view_ids))):
        open_pairs = ~covered[point_of_pair]
        gains = np.bincount(view_of_pair[open_pairs], minlength=len(view_ids))
        best = int(np.argmax(gains))
        if gains[best] < max(min_new_points, 1):
            break
        chosen.append(int(view_ids[best]))
        covered[point_of_pair[view_of_pair == best]] = True
    return chosen


def projection_counts(memory: GeometryMemory, camera, camera_to_world) -> dict:
    """Count, per captured view, its points that project into a view, with no occlusion test.

    This is how the official AnyRecon code scores references; it is kept as
    the baseline the occlusion-aware retrieval is compared against.
    """
    world_to_camera = np.linalg.inv(np.asarray(camera_to_world, np.float64))
    in_camera = transform_points(world_to_camera, memory.positions)
    z = in_camera[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = camera.fx * in_camera[:, 0] / z + camera.cx
        v = camera.fy * in_camera[:, 1] / z + camera.cy
    inside = (z > 0) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    observers = memory.observers[inside]
    ids, counts = np.unique(observers[observers != NO_VIEW], return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist()))
