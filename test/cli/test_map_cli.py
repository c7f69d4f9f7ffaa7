# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon map info|check|export`` on a map file."""

import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import open3d as o3d
import pytest

from anyrecon_ros.cli.main import main
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.scene_io import read_transforms_json
from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.core.view_bank import GeneratedFrame


@pytest.fixture
def map_file(tmp_path):
    scene, camera = ProceduralScene(seed=6), default_camera()
    memory = GeometryMemory()
    path = tmp_path / 'kitchen.map'
    with MapStore(path) as store:
        for view_id, pose in enumerate(scene.camera_path(3)):
            rgb, depth = scene.render(camera, pose)
            store.add_keyframe(CaptureView(view_id, rgb, camera, pose, depth))
            memory.insert(rgb, depth, camera, pose, view_id)
        store.add_generated(GeneratedFrame(0, 0, rgb, np.ones(depth.shape, bool), camera, pose,
                                           reference_ids=(1, 2)))
        store.save_memory(memory)
    return path, memory


def test_info_prints_counts(map_file, capsys):
    path, memory = map_file
    assert main(['map', 'info', str(path)]) == 0
    out = capsys.readouterr().out
    assert 'keyframes: 3' in out and 'generated_views: 1' in out
    assert f'memory_points: {len(memory)}' in out


def test_check_passes_then_fails_on_damage(map_file, capsys):
    path, _ = map_file
    assert main(['map', 'check', str(path)]) == 0
    assert 'intact' in capsys.readouterr().out
    db = sqlite3.connect(path)
    db.execute("UPDATE memory_arrays SET data = zeroblob(length(data)) WHERE name = 'colours'")
    db.commit()
    db.close()
    assert main(['map', 'check', str(path)]) == 1
    assert 'memory array colours: checksum mismatch' in capsys.readouterr().err


def test_export_ply_and_transforms(map_file, tmp_path):
    path, memory = map_file
    ply, folder = tmp_path / 'cloud.ply', tmp_path / 'splat'
    assert main(['map', 'export', str(path), '--ply', str(ply), '--transforms', str(folder)]) == 0
    assert len(o3d.io.read_point_cloud(str(ply)).points) == len(memory)
    scene = read_transforms_json(folder)
    assert len(scene) == 4  # three keyframes and one generated view


def test_bad_paths_give_one_clear_line(tmp_path, capsys):
    assert main(['map', 'info', str(tmp_path / 'missing.map')]) == 1
    assert 'no map file' in capsys.readouterr().err
    notes = tmp_path / 'notes.txt'
    notes.write_text('hello')
    assert main(['map', 'check', str(notes)]) == 1
    assert 'not an anyrecon map' in capsys.readouterr().err
    assert notes.read_text() == 'hello'


def test_a_map_on_read_only_media_can_be_inspected(map_file, tmp_path):
    """info, check and export as a process that may not write the map or its folder."""
    path, memory = map_file
    media = tmp_path / 'media'
    media.mkdir()
    shutil.copy(path, media / path.name)
    (media / path.name).chmod(0o444)
    media.chmod(0o555)
    ply = tmp_path / 'cloud.ply'
    # Root may write anywhere; without capabilities it obeys the file modes.
    without_privileges = ['setpriv', '--bounding-set=-all', '--inh-caps=-all',
                          sys.executable, '-m', 'anyrecon_ros.cli.main', 'map']
    try:
        before = (media / path.name).read_bytes()
        for command in (['info'], ['check'], ['export', '--ply', str(ply)]):
            result = subprocess.run(without_privileges + [command[0], str(media / path.name),
                                                          *command[1:]],
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
        assert (media / path.name).read_bytes() == before
        assert sorted(p.name for p in media.iterdir()) == [path.name]
        assert len(o3d.io.read_point_cloud(str(ply)).points) == len(memory)
    finally:
        media.chmod(0o755)


def test_damaged_sqlite_pages_give_one_line(map_file, capsys):
    path, _ = map_file
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:page + 100] = bytes(100)   # the header of the second page
    path.write_bytes(bytes(data))
    for command in ('info', 'check'):
        assert main(['map', command, str(path)]) == 1
        error = capsys.readouterr().err
        assert error.count('\n') == 1 and 'Traceback' not in error, error
