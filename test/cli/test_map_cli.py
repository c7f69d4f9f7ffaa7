# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon map info|check|export`` on a map file."""

import sqlite3

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
