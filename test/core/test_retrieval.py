# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Retrieval picks the keyframes that really see what the target sees."""

import numpy as np
import pytest

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.procedural_scene import ROOM_SIZE
from anyrecon_ros.core.retrieval import projection_counts
from anyrecon_ros.core.retrieval import retrieve_views
from anyrecon_ros.core.retrieval import retrieve_views_for_renders
from anyrecon_ros.core.retrieval import select_covering_views
from anyrecon_ros.core.transforms import look_at

CAMERA = PinholeCamera(width=320, height=240, fx=300.0, fy=300.0, cx=159.5, cy=119.5)
NARROW = PinholeCamera(width=320, height=240, fx=500.0, fy=500.0, cx=159.5, cy=119.5)
FRONT_VIEWS, BEHIND_VIEWS = (0, 1), (10, 11)


@pytest.fixture(scope='module')
def walled_memory():
    """Keyframes on both sides of the wall between the rooms; a target in the first room.

    The target looks at the wall away from the doorway. The keyframes in the
    second room look at the back of the same stretch of wall: their points
    project into the target's image, but the wall hides them.
    """
    scene = ProceduralScene(seed=0)
    door_lo, door_hi = scene.doorway
    y = 0.7 if (door_lo + door_hi) / 2 >= 2.0 else 3.3
    wall_x = ROOM_SIZE[0]
    memory = GeometryMemory(MemoryConfig(voxel_size=0.03))
    for view_id, dy in zip(FRONT_VIEWS, (-0.3, 0.3)):
        pose = look_at([1.2, y + dy, 1.3], [wall_x, y + 2 * dy, 1.2])
        memory.insert(*scene.render(CAMERA, pose), CAMERA, pose, view_id=view_id)
    for view_id, dy in zip(BEHIND_VIEWS, (-0.3, 0.3)):
        pose = look_at([2 * wall_x - 0.4, y + dy, 1.3], [wall_x, y, 1.2])
        memory.insert(*scene.render(CAMERA, pose), CAMERA, pose, view_id=view_id)
    target = look_at([1.0, y, 1.3], [wall_x, y, 1.3])
    return memory, target


def test_occlusion_aware_retrieval_ignores_views_behind_the_wall(walled_memory):
    memory, target = walled_memory
    chosen = retrieve_views(memory, NARROW, [target], k=4)
    assert set(chosen) == set(FRONT_VIEWS)


def test_plain_projection_counting_picks_views_behind_the_wall(walled_memory):
    """The official code's scoring: the two best-scored views are the hidden ones."""
    memory, target = walled_memory
    counts = projection_counts(memory, NARROW, target)
    best_two = sorted(counts, key=counts.get, reverse=True)[:2]
    assert set(best_two) == set(BEHIND_VIEWS)


def test_segment_retrieval_is_a_capped_union(walled_memory):
    memory, target = walled_memory
    y = target[1, 3]
    behind = look_at([2 * ROOM_SIZE[0] - 1.0, y, 1.3], [ROOM_SIZE[0], y, 1.3])
    both = retrieve_views(memory, NARROW, [target, behind], k=4)
    assert set(both) == set(FRONT_VIEWS) | set(BEHIND_VIEWS)
    assert len(retrieve_views(memory, NARROW, [target, behind], k=3)) == 3


def test_retrieval_from_existing_renders_chooses_as_rendering_does(walled_memory):
    """The loop's own renders of a segment give the same views, occlusion included."""
    memory, target = walled_memory
    y = target[1, 3]
    behind = look_at([2 * ROOM_SIZE[0] - 1.0, y, 1.3], [ROOM_SIZE[0], y, 1.3])
    # retrieve_views judges at 160 px across; renders at that size see the same points.
    small = NARROW.scaled(160, 120)
    for poses in ([target], [target, behind]):
        renders = [memory.render(small, pose) for pose in poses]
        assert (retrieve_views_for_renders(memory, renders, k=4)
                == retrieve_views(memory, NARROW, poses, k=4))
    assert set(retrieve_views_for_renders(memory, [memory.render(small, target)], k=4)) == set(
        FRONT_VIEWS)


def test_greedy_selection_prefers_new_coverage():
    # Views 1 and 2 see the same 10 points; view 3 sees 8 others.
    observers = np.full((18, 2), -1)
    observers[:10, 0] = 1
    observers[:10, 1] = 2
    observers[10:, 0] = 3
    assert select_covering_views(observers, k=2) == [1, 3]
    assert select_covering_views(observers, k=5) == [1, 3]  # view 2 adds nothing
    assert select_covering_views(np.full((4, 2), -1), k=3) == []
