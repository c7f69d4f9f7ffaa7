# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The map session keeps memory, keyframes and map file together and never loses a saved map."""

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from anyrecon_ros.core.geometry_memory import GENERATED
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_session import MapSession
from anyrecon_ros.core.map_session import MapSessionError
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.view_bank import GeneratedFrame

CONFIG = MemoryConfig(voxel_size=0.05)


@pytest.fixture(scope='module')
def views():
    scene = ProceduralScene(seed=5)
    camera = default_camera().scaled(160, 120)
    return [scene.capture_view(camera, pose, view_id)
            for view_id, pose in enumerate(scene.camera_path(4))]


def session_with(path, drops=None, keyframes=()):
    session = MapSession(CONFIG, map_path=str(path),
                         on_drop=lambda reason, text: drops.update([reason]) if drops is not None
                         else None)
    for view in keyframes:
        assert session.add_keyframe(view) is not None
    return session


def generated_from(view, reference_ids):
    return GeneratedFrame(segment_id=0, index=view.view_id, rgb=view.rgb,
                          mask=np.zeros(view.depth.shape, bool), camera=view.camera,
                          camera_to_world=view.camera_to_world, reference_ids=reference_ids,
                          depth=view.depth)


def test_a_session_opened_on_a_map_resumes_it(tmp_path, views):
    path = tmp_path / 'room.map'
    session = session_with(path, keyframes=views[:3])
    points = len(session.memory)
    assert 'saved' in session.close()
    resumed = session_with(path)
    assert len(resumed.memory) == points and len(resumed.bank) == 3
    # New keyframes follow the stored ids, so nothing clashes in the file.
    assert resumed.next_id == 3
    resumed.close()


def test_a_reset_never_saves_an_emptier_memory_over_the_map(tmp_path, views):
    path = tmp_path / 'room.map'
    session = session_with(path, keyframes=views[:3])
    session.save()
    saved_points = len(session.memory)
    session.reset()
    assert len(session.memory) == 0
    with pytest.raises(MapSessionError, match='reset'):
        session.save()
    # Shutting down after the reset keeps the stored map as it was.
    assert 'not saved' in session.close()
    with MapStore(path) as store:
        assert store.info()['memory_points'] == saved_points
    assert len(session_with(path).memory) == saved_points


def test_keyframes_added_after_a_reset_are_kept_by_the_file(tmp_path, views):
    path = tmp_path / 'room.map'
    session = session_with(path, keyframes=views[:2])
    session.save()
    session.reset()
    late = session.add_keyframe(replace(views[2], view_id=session.next_id))
    assert late.view_id == 2
    session.close()
    resumed = session_with(path)
    assert sorted(view.view_id for view in resumed.bank.views()) == [0, 1, 2]


def test_clearing_the_map_is_said_and_then_saving_works(tmp_path, views):
    path = tmp_path / 'room.map'
    session = session_with(path, keyframes=views[:2])
    session.save()
    assert 'cleared' in session.reset(clear_map=True)
    session.add_keyframe(views[3])
    session.save()
    session.close()
    with MapStore(path) as store:
        assert store.keyframe_ids() == [3] and not store.check()


def test_generated_views_enter_like_keyframes(tmp_path, views):
    drops = Counter()
    session = session_with(tmp_path / 'room.map', drops, keyframes=views[:2])
    assert session.add_generated(generated_from(views[2], reference_ids=(0, 1)))
    assert session.memory.count(GENERATED) > 0 and session.generated_views_fused == 1
    assert not session.add_generated(generated_from(views[3], reference_ids=(0, 7)))
    assert drops == Counter(unknown_reference=1)
    assert not session.add_keyframe(views[0])
    assert drops['duplicate_id'] == 1
    session.close()
    with MapStore(tmp_path / 'room.map') as store:
        assert len(list(store.generated())) == 1


def test_a_session_without_a_map_file_refuses_to_save(views):
    session = MapSession(CONFIG)
    session.add_keyframe(views[0])
    with pytest.raises(MapSessionError, match='map_path'):
        session.save()
    assert session.close() == 'no map file'


def test_views_a_full_disk_refused_are_kept_and_stored_once_it_has_room(tmp_path, views):
    drops = Counter()
    session = session_with(tmp_path / 'room.map', drops, keyframes=views[:1])
    db = session.store._db   # the test fills the disk: SQLite's page limit
    pages = db.execute('PRAGMA page_count').fetchone()[0]
    db.execute(f'PRAGMA max_page_count = {pages}')
    for view in views[1:]:
        assert session.add_keyframe(view) is not None   # mapped, not yet stored
    assert drops == Counter(map_write_failed=3) and len(session.unstored) == 3
    with pytest.raises(MapSessionError, match='3 view'):
        session.save()
    db.execute('PRAGMA max_page_count = 1073741823')   # space freed
    assert 'saved' in session.save()
    assert not session.unstored
    session.close()
    with MapStore(tmp_path / 'room.map', read_only=True) as store:
        assert store.keyframe_ids() == [0, 1, 2, 3] and store.check() == []
