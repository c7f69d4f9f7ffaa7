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
from anyrecon_ros.core.scene_io import read_colmap_model
from anyrecon_ros.core.scene_io import read_transforms_json
from anyrecon_ros.core.scene_io.units import SceneUnits
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


@pytest.fixture
def units_map(tmp_path):
    """Return a map in nominal metres of a scene in units 3 times larger, with its contents.

    Its generated views are at the generator's width (64x48) of the keyframes'
    camera (160x120), as a real run stores them.
    """
    scene, camera = ProceduralScene(seed=6), default_camera().scaled(160, 120)
    small = camera.scaled(64, 48)
    memory = GeometryMemory()
    path = tmp_path / 'units.map'
    poses = scene.camera_path(4)
    with MapStore(path) as store:
        store.set_meta('units', SceneUnits(metric=False, scale=3.0, source='sparse points',
                                           near=0.5, far=8.0).to_json())
        for view_id, pose in enumerate(poses[:3]):
            rgb, depth = scene.render(camera, pose)
            store.add_keyframe(CaptureView(view_id + 5, rgb, camera, pose, depth))
            memory.insert(rgb, depth, camera, pose, view_id + 5)
        rgb, depth = scene.render(small, poses[3])
        store.add_generated(GeneratedFrame(0, 0, rgb, np.ones(depth.shape, bool), small,
                                           poses[3], reference_ids=(5,), depth=depth))
        store.save_memory(memory)
    return path, memory, camera, poses


def test_export_colmap_reads_back_with_the_colmap_reader(units_map, tmp_path, capsys):
    path, memory, camera, poses = units_map
    folder = tmp_path / 'colmap'
    assert main(['map', 'export', str(path), '--colmap', str(folder)]) == 0
    assert '3 keyframes, 1 generated views' in capsys.readouterr().out
    scene = read_colmap_model(folder)
    names = [frame.image_path.name for frame in scene.frames]
    assert names == ['generated_000000.png', 'keyframe_000005.png', 'keyframe_000006.png',
                     'keyframe_000007.png']
    # One camera: the generated view is brought back to the keyframes' size.
    assert scene.camera == camera and scene.view(0).rgb.shape == (120, 160, 3)
    # Poses and points in the scene's units: three times the map's nominal metres.
    expected = np.stack([poses[3]] + list(poses[:3]))
    expected[:, :3, 3] *= 3.0
    np.testing.assert_allclose(scene.poses, expected, atol=1e-9)
    assert len(scene.points.xyz) == len(memory)
    np.testing.assert_allclose(scene.points.xyz, 3.0 * memory.positions, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(scene.points.rgb, memory.colours_uint8())
    with MapStore(path, read_only=True) as store:
        keyframe = store.keyframe(6)
    np.testing.assert_array_equal(scene.view(2).rgb, keyframe.rgb)
    assert main(['map', 'export', str(path), '--colmap', str(tmp_path / 'few'),
                 '--max-points', '500']) == 0
    assert len(read_colmap_model(tmp_path / 'few').points.xyz) <= 500
    assert main(['map', 'info', str(path)]) == 0
    assert 'units: scene units, 3 per nominal metre' in capsys.readouterr().out


def test_exports_of_a_map_in_scene_units_are_in_those_units(units_map, tmp_path):
    path, memory, camera, poses = units_map
    ply, folder = tmp_path / 'cloud.ply', tmp_path / 'splat'
    assert main(['map', 'export', str(path), '--ply', str(ply), '--transforms', str(folder)]) == 0
    cloud = np.asarray(o3d.io.read_point_cloud(str(ply)).points)
    np.testing.assert_allclose(cloud, 3.0 * memory.positions, rtol=1e-6, atol=1e-5)
    scene = read_transforms_json(folder)
    assert len(scene) == 4 and scene.camera == camera
    np.testing.assert_allclose(scene.poses[0][:3, 3], 3.0 * poses[0][:3, 3], atol=1e-9)
    view = scene.view(0)
    with MapStore(path, read_only=True) as store:
        truth = store.keyframe(5).depth
    valid = np.isfinite(truth) & np.isfinite(view.depth)
    np.testing.assert_allclose(view.depth[valid], 3.0 * truth[valid], rtol=1e-3, atol=3e-3)


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
