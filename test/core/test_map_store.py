# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The map store keeps keyframes, generated views and the memory in one SQLite file."""

import sqlite3

import numpy as np
import pytest

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.map_store import MapFormatError
from anyrecon_ros.core.map_store import MapInUseError
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.view_bank import GeneratedFrame


@pytest.fixture(scope='module')
def views():
    scene = ProceduralScene(seed=4)
    return [scene.capture_view(default_camera(), pose, view_id, stamp_ns=10 ** 9 * view_id)
            for view_id, pose in enumerate(scene.camera_path(4))]


def test_keyframes_round_trip(tmp_path, views):
    path = tmp_path / 'map.db'
    with MapStore(path) as store:
        for view in views:
            store.add_keyframe(view)
        with pytest.raises(KeyError, match='already'):
            store.add_keyframe(views[0])
    with MapStore(path, create=False) as store:
        assert store.keyframe_ids() == [0, 1, 2, 3]
        for view, loaded in zip(views, store.keyframes()):
            assert np.array_equal(loaded.rgb, view.rgb)
            assert np.allclose(loaded.depth, view.depth, atol=0.0005, equal_nan=True)
            assert np.array_equal(loaded.camera_to_world, view.camera_to_world)
            assert loaded.camera == view.camera and loaded.stamp_ns == view.stamp_ns
        assert store.check() == []


def test_memory_reload_is_exact(tmp_path, views):
    memory = GeometryMemory(MemoryConfig(voxel_size=0.03, max_points=500_000))
    for view in views:
        memory.insert(view.rgb, view.depth, view.camera, view.camera_to_world, view.view_id)
    with MapStore(tmp_path / 'map.db') as store:
        store.save_memory(memory)
        store.save_memory(memory)  # saving again replaces, never duplicates
    with MapStore(tmp_path / 'map.db') as store:
        loaded = store.load_memory()
        assert store.info()['memory_points'] == len(memory)
    assert loaded.config == memory.config
    for name in ('positions', 'colours', 'confidence', 'counts', 'origins', 'observers',
                 'last_update'):
        assert np.array_equal(getattr(loaded, name), getattr(memory, name)), name
    render = loaded.render(views[1].camera, views[1].camera_to_world)
    expected = memory.render(views[1].camera, views[1].camera_to_world)
    assert np.array_equal(render.rgb, expected.rgb)


def test_generated_views_round_trip(tmp_path, views):
    view = views[2]
    mask = np.zeros(view.depth.shape, bool)
    mask[100:300, 200:400] = True
    frame = GeneratedFrame(segment_id=3, index=7, rgb=view.rgb, mask=mask, camera=view.camera,
                           camera_to_world=view.camera_to_world, reference_ids=(0, 1),
                           depth=view.depth)
    with MapStore(tmp_path / 'map.db') as store:
        store.add_generated(frame)
        (loaded,) = list(store.generated())
        assert store.info()['generated_views'] == 1
    assert (loaded.segment_id, loaded.index, loaded.reference_ids) == (3, 7, (0, 1))
    assert np.array_equal(loaded.mask, mask) and np.array_equal(loaded.rgb, view.rgb)


def test_check_finds_corruption(tmp_path, views):
    path = tmp_path / 'map.db'
    with MapStore(path) as store:
        store.add_keyframe(views[0])
        store.add_keyframe(views[1])
    db = sqlite3.connect(path)
    image = db.execute('SELECT image FROM keyframes WHERE id = 1').fetchone()[0]
    damaged = image[:100] + bytes([image[100] ^ 0xFF]) + image[101:]
    db.execute('UPDATE keyframes SET image = ? WHERE id = 1', (damaged,))
    db.commit()
    db.close()
    with MapStore(path) as store:
        assert store.check() == ['keyframe 1: checksum mismatch']


def test_foreign_files_are_never_touched(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('my notes')
    with pytest.raises(MapFormatError, match='not an anyrecon map'):
        MapStore(text)
    assert text.read_text() == 'my notes'
    other = tmp_path / 'other.db'
    db = sqlite3.connect(other)
    db.execute('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)')
    db.execute("INSERT INTO meta VALUES ('format', 'something else')")
    db.commit()
    db.close()
    with pytest.raises(MapFormatError, match='not an anyrecon map'):
        MapStore(other)
    with pytest.raises(FileNotFoundError):
        MapStore(tmp_path / 'missing.db', create=False)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        MapStore(tmp_path / 'no' / 'such' / 'map.db')


def test_a_failed_insert_leaves_nothing_behind(tmp_path, views):
    path = tmp_path / 'map.db'
    with MapStore(path) as store:
        store.add_keyframe(views[0])
        with pytest.raises(KeyError):
            store.add_keyframe(views[0])
        assert store.keyframe_ids() == [0]
        assert store.check() == []
    assert not any(p.name.endswith('-journal') for p in tmp_path.iterdir())


def test_store_is_usable_from_other_threads(tmp_path):
    # An executor's callbacks run in its worker threads, not where the store was opened.
    import threading
    store = MapStore(tmp_path / 'map.db')
    errors = []

    def write(offset):
        try:
            for index in range(5):
                store.set_meta(f'key_{offset}_{index}', str(index))
        except Exception as error:  # noqa: B902  (reported below)
            errors.append(error)
    threads = [threading.Thread(target=write, args=(offset,)) for offset in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(store.meta(f'key_{offset}_4') == '4' for offset in range(3))
    store.close()


def test_another_applications_sqlite_database_is_refused_unchanged(tmp_path):
    # Nothing is written before the file is known to be a map: no WAL switch, no tables.
    databases = {
        'contacts.db': ['CREATE TABLE contacts (name TEXT)',
                        "INSERT INTO contacts VALUES ('Ada')"],
        'meta.db': ['CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)',
                    "INSERT INTO meta VALUES ('format', 'something else')"],
        'odd_meta.db': ['CREATE TABLE meta (name TEXT)'],
    }
    for name, statements in databases.items():
        path = tmp_path / name
        db = sqlite3.connect(path)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()
        before = path.read_bytes()
        with pytest.raises(MapFormatError, match='not an anyrecon map'):
            MapStore(path)
        assert path.read_bytes() == before, name
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(name)) == [name]
        db = sqlite3.connect(path)
        assert db.execute('PRAGMA journal_mode').fetchone()[0] == 'delete'
        db.close()


def test_a_map_from_a_newer_version_is_refused_unchanged(tmp_path):
    path = tmp_path / 'future.map'
    with MapStore(path) as store:
        store.set_meta('format_version', '99')
    before = path.read_bytes()
    with pytest.raises(MapFormatError, match='newer'):
        MapStore(path, create=False)
    assert path.read_bytes() == before


def test_an_empty_file_or_database_becomes_a_map(tmp_path):
    # A new file, or one whose creation was killed before its first commit.
    (tmp_path / 'empty.map').touch()
    db = sqlite3.connect(tmp_path / 'no_tables.map')
    db.execute('PRAGMA journal_mode=WAL')
    db.close()
    assert (tmp_path / 'no_tables.map').read_bytes().startswith(b'SQLite format 3')
    for name in ('empty.map', 'no_tables.map'):
        with MapStore(tmp_path / name) as store:
            assert store.info()['keyframes'] == 0 and store.check() == []
        with MapStore(tmp_path / name, create=False) as store:
            assert store.meta('format') == 'anyrecon_map'


def test_an_unusable_folder_is_named(tmp_path):
    # Tests run as root, which may write anywhere: only a missing folder can be shown here.
    folder = tmp_path / 'missing'
    with pytest.raises(FileNotFoundError, match=f'folder {folder} does not exist'):
        MapStore(folder / 'map.db')
    assert not folder.exists()


def test_views_stored_after_the_last_memory_save_are_listed(tmp_path, views):
    # A node stores every view as it fuses it but saves the memory now and then:
    # what came between the last save and a crash must be fused again on load.
    frame = GeneratedFrame(segment_id=1, index=0, rgb=views[3].rgb,
                           mask=np.zeros(views[3].depth.shape, bool), camera=views[3].camera,
                           camera_to_world=views[3].camera_to_world, reference_ids=(0,),
                           depth=views[3].depth)
    with MapStore(tmp_path / 'map.db') as store:
        assert store.views_after_memory() == ([], [])
        store.add_keyframe(views[0])
        store.add_generated(frame)
        store.save_memory(GeometryMemory())
        assert store.views_after_memory() == ([], [])
        store.add_keyframe(views[1])
        store.add_keyframe(views[2])
        store.add_generated(frame)
    with MapStore(tmp_path / 'map.db', create=False) as store:
        keyframes, generated = store.views_after_memory()
        # The same, filtered from lists already read instead of decoded again.
        again = store.views_after_memory(list(store.keyframes()), list(store.generated()))
    assert [view.view_id for view in keyframes] == [1, 2] and len(generated) == 1
    assert np.array_equal(generated[0].rgb, frame.rgb)
    assert [view.view_id for view in again[0]] == [1, 2] and len(again[1]) == 1


def test_a_second_writer_is_refused_while_readers_may_look(tmp_path, views):
    path = tmp_path / 'map.db'
    with MapStore(path) as writer:
        writer.add_keyframe(views[0])
        with pytest.raises(MapInUseError, match='open for writing elsewhere'):
            MapStore(path)
        with MapStore(path, read_only=True) as reader:
            assert reader.keyframe_ids() == [0]
    with MapStore(path) as writer:   # the lock goes with the writer
        assert writer.keyframe_ids() == [0]


def test_a_full_disk_is_reported_as_a_full_disk(tmp_path, views):
    with MapStore(tmp_path / 'map.db') as store:
        store.add_keyframe(views[0])
        pages = store._db.execute('PRAGMA page_count').fetchone()[0]
        store._db.execute(f'PRAGMA max_page_count = {pages}')   # the disk is full from here
        with pytest.raises(sqlite3.OperationalError, match='full'):
            store.add_keyframe(views[1])
        memory = GeometryMemory()
        memory.insert(views[1].rgb, views[1].depth, views[1].camera, views[1].camera_to_world)
        with pytest.raises(sqlite3.OperationalError, match='full'):
            store.save_memory(memory)
        assert store.keyframe_ids() == [0] and store.check() == []


def damage(path, statement, *parameters):
    db = sqlite3.connect(path)
    db.execute(statement, parameters)
    db.commit()
    db.close()


def test_check_decodes_and_verifies_every_row(tmp_path, views):
    path = tmp_path / 'map.db'
    frame = GeneratedFrame(segment_id=0, index=0, rgb=views[3].rgb,
                           mask=np.zeros(views[3].depth.shape, bool), camera=views[3].camera,
                           camera_to_world=views[3].camera_to_world, reference_ids=(0,),
                           depth=views[3].depth)
    memory = GeometryMemory(MemoryConfig(voxel_size=0.05))
    with MapStore(path) as store:
        for view in views[:3]:
            store.add_keyframe(view)
            memory.insert_view(view)
        store.add_generated(frame)
        store.save_memory(memory)
    # One flipped digit in each kind of row that carried no checksum before.
    damage(path, "UPDATE keyframes SET pose = replace(pose, '0.', '1.') WHERE id = 0")
    damage(path, "UPDATE keyframes SET camera = replace(camera, '\"fx\": ', '\"fx\": 9') "
                 'WHERE id = 1')
    damage(path, 'UPDATE keyframes SET stamp_ns = stamp_ns + 1 WHERE id = 2')
    damage(path, "UPDATE generated SET reference_ids = '[1]'")
    damage(path, "UPDATE meta SET value = replace(value, '0.05', '0.95') "
                 "WHERE key = 'memory_config'")
    with MapStore(path, read_only=True) as store:
        problems = store.check()
    assert problems == ['keyframe 0: checksum mismatch', 'keyframe 1: checksum mismatch',
                        'keyframe 2: checksum mismatch', 'generated view 1: checksum mismatch',
                        'meta memory_config: checksum mismatch'], problems


def test_a_format_1_map_is_checked_by_its_rules_and_upgraded_for_writing(tmp_path, views):
    import zlib
    path = tmp_path / 'old.map'
    with MapStore(path) as store:
        store.add_keyframe(views[0])
    # Format 1: the checksum of a keyframe covered its image and depth only.
    db = sqlite3.connect(path)
    image, depth = db.execute('SELECT image, depth FROM keyframes').fetchone()
    db.execute('UPDATE keyframes SET crc = ?', (zlib.crc32(depth, zlib.crc32(image)),))
    db.execute("UPDATE meta SET value = '1', crc = NULL WHERE key = 'format_version'")
    db.commit()
    db.close()
    with MapStore(path, read_only=True) as store:
        assert store.format_version == 1 and store.check() == []
    with MapStore(path) as store:
        assert store.info()['format_version'] == 2 and store.check() == []
    damage(path, "UPDATE keyframes SET pose = replace(pose, '0.', '1.')")
    with MapStore(path, read_only=True) as store:
        assert store.check() == ['keyframe 0: checksum mismatch']


@pytest.mark.parametrize('breakage, message', [
    ('empty', 'is empty'),
    ('DROP TABLE keyframes', 'keyframes missing'),
    ("DELETE FROM meta WHERE key = 'format_version'", 'format_version row is missing'),
])
def test_reading_a_broken_map_names_the_damage_and_writes_nothing(tmp_path, breakage, message):
    path = tmp_path / 'broken.map'
    if breakage == 'empty':
        path.touch()
    else:
        MapStore(path).close()
        damage(path, breakage)
    before = path.read_bytes()
    with pytest.raises(MapFormatError, match=message):
        MapStore(path, read_only=True)
    assert path.read_bytes() == before
    # At most SQLite's own reader files (an empty write-ahead log) appear beside it.
    assert {p.name for p in tmp_path.iterdir()} <= {
        'broken.map', 'broken.map-wal', 'broken.map-shm'}
    log = tmp_path / 'broken.map-wal'
    assert not log.exists() or not log.stat().st_size
