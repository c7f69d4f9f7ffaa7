# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""StampPairer: frame parts and poses paired by stamp, bounded, never blocking."""

import numpy as np
import pytest

from anyrecon_ros.core.stamp_pairing import StampPairer
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.core.transforms import make_transform

MS = 1_000_000  # nanoseconds


def pose_at_x(x):
    """Return an identity-rotation pose at (x, 0, 0)."""
    return make_transform(np.eye(3), (x, 0.0, 0.0))


def add_frame(pairer, stamp_ns, parts=('image', 'camera_info')):
    """Add every part of one frame at ``stamp_ns``; return what was released."""
    released = []
    for name in parts:
        released += pairer.add_part(name, stamp_ns, f'{name}@{stamp_ns}')
    return released


def test_exact_stamps_pair_at_once_with_the_exact_pose():
    pairer = StampPairer(('image', 'camera_info'), slop=0.01)
    assert pairer.add_pose(100 * MS, pose_at_x(1.0)) == []
    [frame] = add_frame(pairer, 100 * MS)
    assert frame.stamp_ns == 100 * MS and not frame.interpolated
    assert frame.parts == {'image': f'image@{100 * MS}', 'camera_info': f'camera_info@{100 * MS}'}
    assert np.array_equal(frame.camera_to_world, pose_at_x(1.0))
    assert pairer.pending == 0 and pairer.drops.total() == 0


def test_pose_is_interpolated_between_the_poses_around_the_stamp():
    pairer = StampPairer(('image',), slop=0.05)
    turned = look_at((0.4, 0.0, 0.0), (0.4, 1.0, 0.0))
    pairer.add_pose(0, np.eye(4))
    pairer.add_pose(40 * MS, turned)
    [frame] = pairer.add_part('image', 10 * MS, 'a')
    assert frame.interpolated
    assert np.allclose(frame.camera_to_world[:3, 3], [0.1, 0.0, 0.0])
    # A quarter of the rotation from identity to ``turned``.
    full = np.degrees(np.arccos((np.trace(turned[:3, :3]) - 1) / 2))
    part = np.degrees(np.arccos((np.trace(frame.camera_to_world[:3, :3]) - 1) / 2))
    assert part == pytest.approx(full / 4)


def test_a_frame_waits_for_a_pose_after_its_stamp_then_is_released():
    pairer = StampPairer(('image',), slop=0.05)
    pairer.add_pose(80 * MS, pose_at_x(0.8))
    assert pairer.add_part('image', 100 * MS, 'a') == []
    assert pairer.pending == 1 and len(pairer.waiting()) == 1
    [frame] = pairer.add_pose(120 * MS, pose_at_x(1.2))
    assert frame.interpolated and np.allclose(frame.camera_to_world[:3, 3], [1.0, 0, 0])
    assert pairer.pending == 0


def test_nearest_pose_within_slop_when_only_one_side_is_near():
    pairer = StampPairer(('image',), slop=0.05)
    pairer.add_pose(0, pose_at_x(0.0))
    pairer.add_pose(200 * MS, pose_at_x(2.0))
    [early] = pairer.add_part('image', 30 * MS, 'early')
    [late] = pairer.add_part('image', 160 * MS, 'late')
    assert not early.interpolated and np.array_equal(early.camera_to_world, pose_at_x(0.0))
    assert not late.interpolated and np.array_equal(late.camera_to_world, pose_at_x(2.0))


def test_a_frame_with_no_pose_within_slop_is_dropped_as_no_pose():
    dropped = []
    pairer = StampPairer(('image',), slop=0.05, on_drop=lambda *drop: dropped.append(drop))
    pairer.add_pose(0, pose_at_x(0.0))
    pairer.add_pose(1000 * MS, pose_at_x(1.0))
    assert pairer.add_part('image', 500 * MS, 'lost') == []
    assert pairer.drops['no_pose'] == 1 and dropped == [('no_pose', 500 * MS)]
    assert pairer.pending == 0


def test_out_of_order_parts_frames_and_poses():
    pairer = StampPairer(('image', 'camera_info', 'depth'), slop=0.005)
    # camera_info and depth before their image, frames in reverse order,
    # stamps a few milliseconds apart within a frame.
    released = []
    for stamp in (300, 200, 100):
        released += pairer.add_part('depth', (stamp + 3) * MS, f'd{stamp}')
        released += pairer.add_part('camera_info', stamp * MS, f'c{stamp}')
    for stamp in (300, 100, 200):
        released += pairer.add_part('image', (stamp + 1) * MS, f'i{stamp}')
    assert released == [] and pairer.pending == 3
    # Poses in order around 101 and 301; around 201 the later pose comes first.
    for stamp in (99, 103, 203, 199, 299, 303):
        released += pairer.add_pose(stamp * MS, pose_at_x(stamp / 100))
    assert [frame.stamp_ns for frame in released] == [101 * MS, 201 * MS, 301 * MS]
    for frame in released:
        stamp = frame.stamp_ns // MS - 1
        assert frame.parts == {'image': f'i{stamp}', 'camera_info': f'c{stamp}',
                               'depth': f'd{stamp}'}
    # A pose that comes late is not waited for: 201 took the nearest pose within
    # slop as soon as a pose after it was known.
    assert [frame.interpolated for frame in released] == [True, False, True]
    assert np.allclose([frame.camera_to_world[0, 3] for frame in released], [1.01, 2.03, 3.01])
    assert pairer.drops.total() == 0


def test_a_frame_is_not_released_until_every_part_arrived():
    pairer = StampPairer(('image', 'camera_info', 'depth'), slop=0.01)
    pairer.add_pose(48 * MS, pose_at_x(0.0))
    pairer.add_pose(100 * MS, pose_at_x(1.0))
    assert add_frame(pairer, 50 * MS, ('image', 'camera_info')) == []
    assert pairer.waiting() == []  # incomplete frames do not wait for a pose yet
    # A depth image outside the slop does not complete it.
    assert pairer.add_part('depth', 65 * MS, 'far') == []
    [frame] = pairer.add_part('depth', 55 * MS, 'near')
    assert frame.parts['depth'] == 'near'


def test_queue_overflow_drops_the_oldest_frames_and_counts_them():
    dropped = []
    pairer = StampPairer(('image',), slop=0.05, queue_size=3,
                         on_drop=lambda reason, stamp: dropped.append((reason, stamp // MS)))
    for stamp in (40, 10, 30, 20, 50):   # out of order: the oldest stamps go, not the first in
        assert pairer.add_part('image', stamp * MS, stamp) == []
    assert pairer.pending == 3
    assert dropped == [('queue_full', 10), ('queue_full', 20)]
    assert pairer.drops['queue_full'] == 2
    released = pairer.add_pose(30 * MS, pose_at_x(3.0)) + pairer.add_pose(50 * MS, pose_at_x(5))
    assert [frame.parts['image'] for frame in released] == [30, 40, 50]


def test_unmatched_parts_are_bounded_too():
    pairer = StampPairer(('image', 'camera_info'), slop=0.01, queue_size=2)
    for stamp in range(5):
        pairer.add_part('camera_info', stamp * 100 * MS, stamp)
    assert pairer.drops['unmatched_camera_info'] == 3
    pairer.add_pose(400 * MS, pose_at_x(0.0))
    # The newest unmatched camera_info is still there for its image.
    [frame] = pairer.add_part('image', 400 * MS, 'image')
    assert frame.parts['camera_info'] == 4


def test_flush_uses_an_earlier_pose_within_slop_and_drops_the_rest():
    pairer = StampPairer(('image', 'camera_info'), slop=0.05)
    pairer.add_pose(100 * MS, pose_at_x(1.0))
    add_frame(pairer, 120 * MS)            # earlier pose within slop, none after
    add_frame(pairer, 400 * MS)            # nothing within slop
    pairer.add_part('image', 500 * MS, 'no camera_info')
    [frame] = pairer.flush()
    assert frame.stamp_ns == 120 * MS and np.array_equal(frame.camera_to_world, pose_at_x(1.0))
    assert pairer.drops['no_pose'] == 1 and pairer.drops['incomplete_frame'] == 1
    assert pairer.pending == 0


def test_old_poses_are_forgotten_beyond_max_poses():
    pairer = StampPairer(('image',), slop=0.01, max_poses=3)
    for stamp in range(6):
        pairer.add_pose(stamp * 100 * MS, pose_at_x(stamp))
    assert pairer.add_part('image', 0, 'too old') == []
    assert pairer.drops['no_pose'] == 1
    [frame] = pairer.add_part('image', 300 * MS, 'kept')
    assert np.array_equal(frame.camera_to_world, pose_at_x(3))


def test_clear_forgets_frames_and_poses_but_keeps_counts():
    pairer = StampPairer(('image',), slop=0.0, queue_size=1)
    pairer.add_part('image', 1, 'a')
    pairer.add_part('image', 2, 'b')
    pairer.add_pose(5, np.eye(4))
    pairer.clear()
    assert pairer.pending == 0 and pairer.drops['queue_full'] == 1
    assert pairer.add_part('image', 5, 'c') == []  # the pose at 5 was forgotten


@pytest.mark.parametrize('kwargs, message', [
    ({'parts': ()}, 'parts'),
    ({'parts': ('image', 'image')}, 'parts'),
    ({'slop': -0.1}, 'slop'),
    ({'slop': float('nan')}, 'slop'),
    ({'queue_size': 0}, 'queue_size'),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StampPairer(**kwargs)


def test_unknown_parts_and_non_rigid_poses_are_refused():
    pairer = StampPairer(('image',))
    with pytest.raises(ValueError, match='unknown part'):
        pairer.add_part('depth', 0, None)
    with pytest.raises(ValueError):
        pairer.add_pose(0, np.diag([2.0, 1.0, 1.0, 1.0]))
    assert pairer.pending == 0
