# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The keyframe bank keeps to its RAM budget and loses nothing: the rest comes from the store."""

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from anyrecon_ros.core.bounded_bank import BankConfig
from anyrecon_ros.core.bounded_bank import BankReadError
from anyrecon_ros.core.bounded_bank import BoundedViewBank
from anyrecon_ros.core.bounded_bank import MIB
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.inpainting import TeleaGenerator
from anyrecon_ros.core.map_session import MapSession
from anyrecon_ros.core.map_session import MapSessionError
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.map_store import stored_depth
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.loop.reconstruction import ReconstructionLoop

CONFIG = MemoryConfig(voxel_size=0.05)
CAMERA = default_camera().scaled(160, 120)
KEYFRAME_BYTES = 160 * 120 * 3 + 160 * 120 * 4   # rgb8 + float32 depth
# Room for two such keyframes; and less than one (every stored keyframe leaves RAM).
TWO_KEYFRAMES = BankConfig(keyframe_ram_mib=2.5 * KEYFRAME_BYTES / MIB)
NONE_HELD = BankConfig(keyframe_ram_mib=0.5 * KEYFRAME_BYTES / MIB)
UNBOUNDED = BankConfig(keyframe_ram_mib=0.0)


@pytest.fixture(scope='module')
def views():
    """Keyframes as an RGB-D camera gives them: depth in whole millimetres."""
    scene = ProceduralScene(seed=5)
    views = [scene.capture_view(CAMERA, pose, view_id, stamp_ns=1000 + view_id)
             for view_id, pose in enumerate(scene.camera_path(24)[:8])]
    return [replace(view, depth=stored_depth(view.depth)) for view in views]


def session_with(bank_config, map_path='', drops=None, keyframes=()):
    session = MapSession(CONFIG, map_path=str(map_path), bank_config=bank_config,
                         on_drop=lambda reason, text: drops.update([reason]) if drops is not None
                         else None)
    for view in keyframes:
        assert session.add_keyframe(view) is not None
    return session


def same_bytes(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_identical(loaded, original):
    """Check ``loaded`` is ``original`` byte for byte, its depth as the store keeps it (mm)."""
    assert loaded.view_id == original.view_id and loaded.stamp_ns == original.stamp_ns
    assert same_bytes(loaded.rgb, original.rgb)
    assert same_bytes(loaded.depth, stored_depth(original.depth))
    assert same_bytes(loaded.camera_to_world, original.camera_to_world)
    assert loaded.camera == original.camera


def test_evicted_keyframes_come_back_byte_identical_from_the_map_file(tmp_path, views):
    session = session_with(TWO_KEYFRAMES, tmp_path / 'room.map')
    bank = session.bank
    held_at_first = {}
    for view in views:
        session.add_keyframe(view)
        held_at_first[view.view_id] = bank[view.view_id]
        # The budget holds after every keyframe: two of them at most.
        assert bank.held_bytes <= TWO_KEYFRAMES.budget_bytes and bank.held_count <= 2
    assert len(bank) == len(views) and bank.held_ids() == [6, 7]
    for view in views[:6]:
        reads = bank.reads
        loaded = bank[view.view_id]
        assert bank.reads == reads + 1   # read back from the map file
        assert_identical(loaded, view)
        # Bit for bit what the bank held before it left RAM.
        first = held_at_first[view.view_id]
        assert same_bytes(loaded.rgb, first.rgb) and same_bytes(loaded.depth, first.depth)
        assert bank.held_bytes <= TWO_KEYFRAMES.budget_bytes
    # Placements need no read at all; views() reads back without keeping.
    reads = bank.reads
    assert [p.view_id for p in bank.placements()] == list(range(8))
    assert bank.reads == reads
    assert [view.view_id for view in bank.views()] == list(range(8))
    assert bank.held_bytes <= TWO_KEYFRAMES.budget_bytes
    session.close()


def test_without_a_map_file_a_temporary_store_is_used_and_removed_on_close(views):
    session = session_with(TWO_KEYFRAMES, keyframes=views[:2])
    assert session.bank.held_count == 2 and session.bank.store is None  # made on first need
    for view in views[2:4]:
        session.add_keyframe(view)
    folder = Path(session.bank.store.path).parent
    assert folder.is_dir() and folder.name.startswith('anyrecon_bank_')
    assert session.bank.held_ids() == [2, 3]
    for view in views[:4]:
        assert_identical(session.bank[view.view_id], view)
    with pytest.raises(MapSessionError, match='map_path'):
        session.save()   # still no map file to save to
    assert session.close() == 'no map file'
    assert not folder.exists()


def test_a_reset_deletes_the_old_banks_temporary_store(views):
    session = session_with(NONE_HELD, keyframes=views[:3])
    folder = Path(session.bank.store.path).parent
    session.reset()
    assert not folder.exists() and len(session.bank) == 0
    session.add_keyframe(replace(views[3], view_id=session.next_id))
    assert len(session.bank) == 1 and session.bank.held_count == 0
    assert Path(session.bank.store.path).parent != folder   # a new one of its own
    session.close()


def test_stereo_reads_its_sources_back_and_gets_the_same_depth(tmp_path, views):
    depths = {}
    for name, bank_config in (('bounded', NONE_HELD), ('unbounded', UNBOUNDED)):
        session = session_with(bank_config, tmp_path / f'{name}.map', keyframes=views[:5])
        reads = session.bank.reads
        # A keyframe without depth: multi-view stereo against earlier keyframes.
        keyframe = session.add_keyframe(replace(views[5], depth=None))
        assert keyframe.depth is not None and np.isfinite(keyframe.depth).mean() > 0.05
        depths[name] = keyframe.depth
        if name == 'bounded':
            assert session.bank.reads > reads   # its sources came back from the map file
        else:
            assert session.bank.reads == 0
        session.close()
    assert same_bytes(depths['bounded'], depths['unbounded'])


class RecordingTelea(TeleaGenerator):
    """The classical generator, remembering the capture images each segment got."""

    def __init__(self):
        super().__init__()
        self.captures = []

    def generate(self, capture_images, renders, masks, progress=None, render_depths=None):
        self.captures.append(capture_images.copy())
        return super().generate(capture_images, renders, masks, progress, render_depths)


def test_retrieval_and_generation_read_evicted_keyframes_back(views):
    poses = np.array([view.camera_to_world for view in views[1:7]])
    runs = {}
    for name, bank_config in (('bounded', NONE_HELD), ('unbounded', UNBOUNDED)):
        session = session_with(bank_config, keyframes=views[:6])
        generator = RecordingTelea()
        loop = ReconstructionLoop(session.memory, session.bank, generator,
                                  LoopConfig(segment_length=4, segment_overlap=1))
        reads = session.bank.reads
        frames = loop.run(CAMERA, poses)
        runs[name] = (generator.captures, frames, session.bank.reads - reads)
        session.close()
    (captures, frames, reads), (captures_ram, frames_ram, reads_ram) = (
        runs['bounded'], runs['unbounded'])
    assert reads > 0 and reads_ram == 0
    # The generator was conditioned on the same keyframe images, and made the same views.
    assert len(captures) == len(captures_ram) >= 2
    assert all(same_bytes(a, b) for a, b in zip(captures, captures_ram))
    assert len(frames) == len(frames_ram)
    for frame, frame_ram in zip(frames, frames_ram):
        assert frame.reference_ids == frame_ram.reference_ids
        assert same_bytes(frame.rgb, frame_ram.rgb)


def test_a_keyframe_the_map_file_refused_stays_in_ram_until_stored(tmp_path, views):
    drops = Counter()
    session = session_with(NONE_HELD, tmp_path / 'room.map', drops, keyframes=views[:1])
    assert session.bank.held_count == 0   # stored, so out of RAM
    db = session.store._db   # the test fills the disk: SQLite's page limit
    db.execute(f'PRAGMA max_page_count = {db.execute("PRAGMA page_count").fetchone()[0]}')
    for view in views[1:4]:
        session.add_keyframe(view)
    assert drops['map_write_failed'] == 3
    # Not stored, so not evicted: over the budget rather than lost.
    assert session.bank.held_ids() == [1, 2, 3]
    assert session.bank.held_bytes > NONE_HELD.budget_bytes
    db.execute('PRAGMA max_page_count = 1073741823')   # space freed
    assert 'saved' in session.save()
    assert session.bank.held_count == 0 and session.bank.held_bytes == 0
    for view in views[:4]:
        assert_identical(session.bank[view.view_id], view)
    session.close()


def test_a_keyframe_the_temporary_store_refused_stays_in_ram_and_is_reported(views):
    drops = Counter()
    session = session_with(NONE_HELD, drops=drops, keyframes=views[:2])
    db = session.bank.store._db   # the temporary store, full
    db.execute(f'PRAGMA max_page_count = {db.execute("PRAGMA page_count").fetchone()[0]}')
    for view in views[2:5]:
        session.add_keyframe(view)
    # Not written, so not evicted: over the budget rather than lost.
    assert session.bank.held_ids() == [2, 3, 4]
    assert drops == Counter(bank_write_failed=3)   # once per keyframe, not once per try
    session.add_keyframe(views[5])
    assert drops == Counter(bank_write_failed=4)
    db.execute('PRAGMA max_page_count = 1073741823')
    session.add_keyframe(views[6])   # room again: the waiting ones are written and leave RAM
    assert session.bank.held_count == 0
    for view in views[:7]:
        assert_identical(session.bank[view.view_id], view)
    session.close()


def test_a_resumed_map_reads_its_keyframes_only_when_asked(tmp_path, views):
    path = tmp_path / 'room.map'
    session = session_with(UNBOUNDED, path, keyframes=views[:5])
    points = len(session.memory)
    session.close()
    resumed = session_with(TWO_KEYFRAMES, path)
    assert len(resumed.bank) == 5 and resumed.bank.held_count == 0
    assert len(resumed.memory) == points and resumed.next_id == 5
    for view in views[:5]:
        assert_identical(resumed.bank[view.view_id], view)
    assert resumed.bank.held_bytes <= TWO_KEYFRAMES.budget_bytes
    resumed.close()


def test_a_damaged_keyframe_is_refused_at_load_and_when_read_back(tmp_path, views):
    path = tmp_path / 'room.map'
    session_with(UNBOUNDED, path, keyframes=views[:3]).close()
    with MapStore(path) as store:
        store._db.execute('UPDATE keyframes SET stamp_ns = stamp_ns + 1 WHERE id = 1')
    with pytest.raises(MapSessionError, match='keyframe 1: checksum mismatch'):
        session_with(TWO_KEYFRAMES, path)
    # Damaged after the bank let it go: reading it back says so, it does not hand it out.
    with MapStore(path) as store:
        store._db.execute('UPDATE keyframes SET stamp_ns = stamp_ns - 1 WHERE id = 1')
        bank = BoundedViewBank(TWO_KEYFRAMES.budget_bytes, store)
        for placement in store.keyframe_placements():
            bank.add_stored(placement)
        store._db.execute('UPDATE keyframes SET stamp_ns = stamp_ns + 1 WHERE id = 1')
        assert_identical(bank[0], views[0])
        with pytest.raises(BankReadError, match='keyframe 1 .*checksum mismatch'):
            bank[1]


def test_no_bound_keeps_every_keyframe_as_given(views):
    session = session_with(UNBOUNDED, keyframes=views[:4])
    assert session.bank.held_ids() == [0, 1, 2, 3] and session.bank.store is None
    assert session.bank[2] is session.bank[2]
    session.close()


def test_depth_finer_than_a_millimetre_comes_back_as_the_map_file_keeps_it(views):
    fine = replace(views[4], depth=views[4].depth + np.float32(0.0004))   # stereo depth, say
    session = session_with(TWO_KEYFRAMES, keyframes=views[:2])
    assert same_bytes(session.add_keyframe(fine).depth, fine.depth)   # fused and published so
    assert same_bytes(session.bank[4].depth, fine.depth)   # held as given
    for view in views[5:7]:
        session.add_keyframe(view)
    assert 4 not in session.bank.held_ids()
    assert same_bytes(session.bank[4].depth, views[4].depth)   # read back: whole millimetres
    session.close()


def test_the_budget_is_a_checked_setting():
    assert BankConfig().keyframe_ram_mib > 0
    with pytest.raises(ValueError, match='keyframe_ram_mib'):
        BankConfig(keyframe_ram_mib=-1.0)
