# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Reading posed folders, COLMAP models and transforms.json; writing nerfstudio folders."""

import json
from pathlib import Path
import struct

import numpy as np
from PIL import Image
import pytest

from anyrecon_ros.core.camera import PinholeCamera, undistort
from anyrecon_ros.core.procedural_scene import default_camera, ProceduralScene
from anyrecon_ros.core.scene_io import (CAPTURED, GENERATED, open_scene, read_colmap_model,
                                        read_posed_scene, read_transforms_json, SceneFormatError,
                                        write_transforms_json)
from anyrecon_ros.core.transforms import look_at, transform_to_quaternion, validate_rigid
from anyrecon_ros.core.view_bank import CaptureView

SHARED_DATA = Path(__file__).resolve().parents[3] / 'shared' / 'data'
SMALL = PinholeCamera(width=40, height=30, fx=35.0, fy=36.0, cx=19.5, cy=14.5)


def write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def small_poses(count=3):
    """Return camera-to-world poses of cameras around a point, looking at it."""
    return [look_at([2.0 * np.cos(a), 2.0 * np.sin(a), 1.0 + 0.1 * a], [0.0, 0.0, 1.0])
            for a in np.linspace(0.0, 1.5, count)]


def project(camera, camera_to_world, world_points):
    """Return the pixel coordinates and depth of world points seen by a pinhole camera."""
    world_to_camera = np.linalg.inv(camera_to_world)
    points = world_points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    pixels = points @ camera.K.T
    return pixels[:, :2] / pixels[:, 2:], points[:, 2]


# --- the posed-scene folder --------------------------------------------------------------

@pytest.fixture(scope='module')
def redkitchen():
    folder = SHARED_DATA / 'redkitchen'
    if not (folder / 'scene.json').is_file():
        pytest.skip(f'shared test data not found at {folder}')
    return read_posed_scene(folder)


def test_redkitchen_reads_with_its_camera_and_poses(redkitchen):
    assert len(redkitchen) == 100 and redkitchen.name == 'redkitchen'
    assert redkitchen.camera == PinholeCamera(640, 480, 585.0, 585.0, 320.0, 240.0)
    poses = redkitchen.poses
    assert poses.shape == (100, 4, 4)
    # KinectFusion's poses are rigid to 2e-4 only; the reader makes them exact.
    for pose in poses:
        validate_rigid(pose, atol=1e-9)


@pytest.mark.parametrize('index', [0, 50, 99])
def test_redkitchen_views_are_rgb_and_metric_depth(redkitchen, index):
    view = redkitchen.view(index)
    assert view.view_id == index and view.camera == redkitchen.camera
    assert view.rgb.shape == (480, 640, 3) and view.rgb.dtype == np.uint8
    assert view.depth.shape == (480, 640) and view.depth.dtype == np.float32
    invalid = np.isnan(view.depth).mean()
    assert 0.02 < invalid < 0.3
    assert 0.3 < np.nanmin(view.depth) and np.nanmax(view.depth) < 5.0
    np.testing.assert_array_equal(view.camera_to_world, redkitchen.poses[index])


def test_redkitchen_depth_reprojects_into_the_next_frame(redkitchen):
    first, second = redkitchen.view(0), redkitchen.view(1)
    camera = redkitchen.camera
    v, u = np.nonzero(np.isfinite(first.depth))
    z = first.depth[v, u].astype(np.float64)
    points = np.stack([(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z], 1)
    world = points @ first.camera_to_world[:3, :3].T + first.camera_to_world[:3, 3]
    pixels, predicted = project(camera, second.camera_to_world, world)
    columns, rows = np.round(pixels).astype(int).T
    inside = (columns >= 0) & (columns < camera.width) & (rows >= 0) & (rows < camera.height)
    measured = second.depth[rows[inside], columns[inside]]
    error = np.abs(measured - predicted[inside])
    error = error[np.isfinite(error)]
    assert error.size > 100_000
    assert np.median(error) < 0.02


def write_posed_folder(folder: Path, distortion=None) -> dict:
    """Write a small valid posed-scene folder with two RGB-D frames; return its description."""
    rng = np.random.default_rng(0)
    frames = []
    for index, pose in enumerate(small_poses(2)):
        write_png(folder / 'images' / f'{index}.png',
                  rng.integers(0, 256, (SMALL.height, SMALL.width, 3), dtype=np.uint8))
        depth = rng.integers(500, 4000, (SMALL.height, SMALL.width)).astype(np.uint16)
        depth[0, :5], depth[1, :5] = 0, 65535
        write_png(folder / 'depth' / f'{index}.png', depth)
        frames.append({'image': f'images/{index}.png', 'depth': f'depth/{index}.png',
                       'c2w': pose.tolist()})
    description = {'width': SMALL.width, 'height': SMALL.height, 'fx': SMALL.fx, 'fy': SMALL.fy,
                   'cx': SMALL.cx, 'cy': SMALL.cy, 'distortion': distortion,
                   'depth_scale': 1000.0, 'frames': frames}
    (folder / 'scene.json').write_text(json.dumps(description))
    return description


def test_posed_folder_depth_is_metres_with_invalid_values_as_nan(tmp_path):
    write_posed_folder(tmp_path)
    view = read_posed_scene(tmp_path).view(1)
    raw = np.asarray(Image.open(tmp_path / 'depth' / '1.png'))
    assert np.all(np.isnan(view.depth[:2, :5]))
    np.testing.assert_allclose(view.depth[2:], raw[2:] / 1000.0, rtol=1e-6)


def test_posed_folder_with_distortion_is_undistorted_on_load(tmp_path):
    distortion = [-0.1, 0.02, 0.001, 0.0]
    write_posed_folder(tmp_path, distortion=distortion)
    scene = read_posed_scene(tmp_path)
    assert not scene.camera.has_distortion and scene.recorded_camera.has_distortion
    view = scene.view(0)
    recorded = PinholeCamera(40, 30, 35.0, 36.0, 19.5, 14.5, distortion=distortion)
    expected, _ = undistort(recorded, np.asarray(Image.open(tmp_path / 'images' / '0.png')))
    np.testing.assert_array_equal(view.rgb, expected)
    assert view.camera == SMALL


def break_missing_image(folder, description):
    (folder / 'images' / '1.png').unlink()
    return 'images/1.png', 'file not found'


def break_pose(folder, description):
    description['frames'][1]['c2w'][0][0] = 2.0
    return 'scene.json', 'frames[1].c2w is not a rigid'


def break_image_size(folder, description):
    write_png(folder / 'images' / '0.png', np.zeros((30, 41, 3), dtype=np.uint8))
    return 'images/0.png', 'image is 41x30, the camera is 40x30'


def break_depth_size(folder, description):
    write_png(folder / 'depth' / '1.png', np.zeros((31, 40), dtype=np.uint16))
    return 'depth/1.png', 'depth is 40x31'


def break_depth_format(folder, description):
    write_png(folder / 'depth' / '1.png', np.zeros((30, 40, 3), dtype=np.uint8))
    return 'depth/1.png', 'single-channel 16-bit'


def break_missing_key(folder, description):
    del description['fx']
    return 'scene.json', 'missing key "fx"'


def break_frame_key(folder, description):
    del description['frames'][0]['c2w']
    return 'scene.json', 'frames[0] missing key "c2w"'


def break_camera(folder, description):
    description['fy'] = -1.0
    return 'scene.json', 'fy must be positive'


def break_depth_scale(folder, description):
    description['depth_scale'] = None
    return 'scene.json', 'depth_scale is null'


def break_json(folder, description):
    return 'scene.json', 'not valid JSON'


@pytest.mark.parametrize('breakage', [
    break_missing_image, break_pose, break_image_size, break_depth_size, break_depth_format,
    break_missing_key, break_frame_key, break_camera, break_depth_scale, break_json])
def test_malformed_posed_folders_are_rejected_naming_the_file(tmp_path, breakage):
    description = write_posed_folder(tmp_path)
    named_file, problem = breakage(tmp_path, description)
    text = json.dumps(description)
    if breakage is break_json:
        text = text[:-10]
    (tmp_path / 'scene.json').write_text(text)
    with pytest.raises(SceneFormatError) as error:
        read_posed_scene(tmp_path)
    assert str(tmp_path / named_file) in str(error.value)
    assert problem in str(error.value)


def test_a_missing_scene_file_is_named(tmp_path):
    with pytest.raises(SceneFormatError, match='scene.json: file not found'):
        read_posed_scene(tmp_path)


# --- COLMAP ------------------------------------------------------------------------------

COLMAP_MODEL_IDS = {'SIMPLE_PINHOLE': 0, 'PINHOLE': 1, 'SIMPLE_RADIAL': 2, 'RADIAL': 3,
                    'OPENCV': 4, 'OPENCV_FISHEYE': 5}
COLMAP_PARAMS = {'SIMPLE_PINHOLE': [35.0, 20.0, 15.0],
                 'PINHOLE': [35.0, 36.0, 20.0, 15.0],
                 'SIMPLE_RADIAL': [35.0, 20.0, 15.0, -0.05],
                 'RADIAL': [35.0, 20.0, 15.0, -0.05, 0.01],
                 'OPENCV': [35.0, 36.0, 20.0, 15.0, -0.05, 0.01, 0.001, -0.002],
                 'OPENCV_FISHEYE': [35.0, 36.0, 20.0, 15.0, 0.1, 0.0, 0.0, 0.0]}
# What each model reads as: fx, fy, and the plumb_bob coefficients.
EXPECTED_LENS = {'SIMPLE_PINHOLE': (35.0, 35.0, None),
                 'PINHOLE': (35.0, 36.0, None),
                 'SIMPLE_RADIAL': (35.0, 35.0, [-0.05, 0, 0, 0, 0]),
                 'RADIAL': (35.0, 35.0, [-0.05, 0.01, 0, 0, 0]),
                 'OPENCV': (35.0, 36.0, [-0.05, 0.01, 0.001, -0.002, 0])}


class ColmapModel:
    """A small synthetic COLMAP model: known poses, one camera, coloured points."""

    def __init__(self, model='PINHOLE', count=3, camera_ids=None):
        self.model, self.params = model, COLMAP_PARAMS[model]
        self.poses = small_poses(count)
        # Ids out of name order: frames must come back sorted by name.
        self.images = [(10 - i, f'view_{i:02d}.png', pose) for i, pose in enumerate(self.poses)]
        self.camera_ids = camera_ids or [1] * count
        rng = np.random.default_rng(3)
        self.xyz = rng.normal(size=(5, 3))
        self.rgb = rng.integers(0, 256, (5, 3), dtype=np.uint8)

    def world_to_camera(self, pose):
        """Return COLMAP's (qw, qx, qy, qz) and t of a camera-to-world pose."""
        translation, q_xyzw = transform_to_quaternion(np.linalg.inv(pose))
        return np.roll(q_xyzw, 1).tolist(), translation.tolist()

    def write_images(self, folder: Path):
        for _, name, _ in self.images:
            write_png(folder / name, np.full((30, 40, 3), 90, dtype=np.uint8))

    def write_text(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        cameras = ['# Camera list with one line of data per camera:']
        cameras += [f'{camera_id} {self.model} 40 30 ' + ' '.join(map(repr, self.params))
                    for camera_id in sorted(set(self.camera_ids))]
        (folder / 'cameras.txt').write_text('\n'.join(cameras) + '\n')
        images = ['# Image list with two lines of data per image:', '# Number of images: 3']
        for (image_id, name, pose), camera_id in zip(self.images, self.camera_ids):
            q, t = self.world_to_camera(pose)
            images.append(' '.join(map(repr, [image_id, *q, *t, camera_id])) + f' {name}')
            # The first image has no 2D points: its second line is empty.
            images.append('' if image_id == 10 else '12.5 7.25 0 3.0 4.0 -1')
        (folder / 'images.txt').write_text('\n'.join(images) + '\n')
        points = ['# 3D point list with one line of data per point:']
        points += [f'{i + 1} ' + ' '.join(map(repr, xyz.tolist() + rgb.tolist())) + ' 0.5 10 0 9 1'
                   for i, (xyz, rgb) in enumerate(zip(self.xyz, self.rgb))]
        (folder / 'points3D.txt').write_text('\n'.join(points) + '\n')

    def write_binary(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        ids = sorted(set(self.camera_ids))
        cameras = struct.pack('<Q', len(ids)) + b''.join(
            struct.pack('<iiQQ', camera_id, COLMAP_MODEL_IDS[self.model], 40, 30)
            + struct.pack(f'<{len(self.params)}d', *self.params) for camera_id in ids)
        (folder / 'cameras.bin').write_bytes(cameras)
        images = struct.pack('<Q', len(self.images))
        for (image_id, name, pose), camera_id in zip(self.images, self.camera_ids):
            q, t = self.world_to_camera(pose)
            images += struct.pack('<i7di', image_id, *q, *t, camera_id)
            images += name.encode() + b'\0' + struct.pack('<Q', 2)
            images += struct.pack('<ddq', 12.5, 7.25, 1) + struct.pack('<ddq', 3.0, 4.0, -1)
        (folder / 'images.bin').write_bytes(images)
        points = struct.pack('<Q', len(self.xyz))
        for index, (xyz, rgb) in enumerate(zip(self.xyz, self.rgb)):
            points += struct.pack('<Q3d3BdQ', index + 1, *xyz, *rgb, 0.5, 2)
            points += struct.pack('<ii', 10, 0) + struct.pack('<ii', 9, 1)
        (folder / 'points3D.bin').write_bytes(points)


@pytest.mark.parametrize('binary', [False, True], ids=['text', 'binary'])
@pytest.mark.parametrize('model', list(EXPECTED_LENS))
def test_colmap_models_read_back_poses_camera_and_points(tmp_path, model, binary):
    colmap = ColmapModel(model)
    colmap.write_images(tmp_path / 'images')
    (colmap.write_binary if binary else colmap.write_text)(tmp_path / 'sparse' / '0')
    scene = read_colmap_model(tmp_path)
    assert len(scene) == 3
    assert [frame.image_path.name for frame in scene.frames] == [n for _, n, _ in colmap.images]
    np.testing.assert_allclose(scene.poses, np.stack(colmap.poses), atol=1e-12)
    fx, fy, distortion = EXPECTED_LENS[model]
    # COLMAP's pixel centres are at +0.5: the principal point moves half a pixel.
    assert scene.camera == PinholeCamera(40, 30, fx, fy, 19.5, 14.5)
    if distortion is None:
        assert not scene.recorded_camera.has_distortion
    else:
        np.testing.assert_allclose(scene.recorded_camera.distortion, distortion)
    np.testing.assert_allclose(scene.points.xyz, colmap.xyz)
    np.testing.assert_array_equal(scene.points.rgb, colmap.rgb)
    assert scene.view(2).rgb.shape == (30, 40, 3)


def test_colmap_projection_agrees_with_the_scene_camera(tmp_path):
    colmap = ColmapModel('PINHOLE')
    colmap.write_images(tmp_path / 'images')
    colmap.write_text(tmp_path / 'sparse' / '0')
    scene = read_colmap_model(tmp_path / 'sparse' / '0', images_folder=tmp_path / 'images')
    point = np.array([[0.2, -0.1, 1.1]])
    for (_, _, pose), frame in zip(colmap.images, scene.frames):
        q, t = colmap.world_to_camera(pose)
        # COLMAP's own projection: R (from its quaternion) X + t, then its pixel convention.
        rotation = np.linalg.inv(pose)[:3, :3]
        x, y, z = rotation @ point[0] + t
        colmap_pixel = np.array([35.0 * x / z + 20.0, 36.0 * y / z + 15.0])
        pixel, _ = project(scene.camera, frame.camera_to_world, point)
        np.testing.assert_allclose(pixel[0], colmap_pixel - 0.5, atol=1e-9)


@pytest.mark.parametrize('binary', [False, True], ids=['text', 'binary'])
def test_colmap_unsupported_camera_model_is_named(tmp_path, binary):
    colmap = ColmapModel('OPENCV_FISHEYE')
    colmap.write_images(tmp_path / 'images')
    (colmap.write_binary if binary else colmap.write_text)(tmp_path)
    with pytest.raises(SceneFormatError, match='camera model OPENCV_FISHEYE is not supported'):
        read_colmap_model(tmp_path)


def test_colmap_several_different_cameras_are_rejected(tmp_path):
    colmap = ColmapModel('PINHOLE', camera_ids=[1, 2, 2])
    colmap.write_images(tmp_path / 'images')
    colmap.write_text(tmp_path)
    cameras = (tmp_path / 'cameras.txt').read_text()
    (tmp_path / 'cameras.txt').write_text(cameras.replace('2 PINHOLE 40 30 35.0',
                                                          '2 PINHOLE 40 30 40.0'))
    with pytest.raises(SceneFormatError, match='2 different cameras'):
        read_colmap_model(tmp_path)


def test_colmap_identical_cameras_are_shared(tmp_path):
    colmap = ColmapModel('PINHOLE', camera_ids=[1, 2, 2])
    colmap.write_images(tmp_path / 'images')
    colmap.write_binary(tmp_path)
    assert len(read_colmap_model(tmp_path)) == 3


@pytest.mark.parametrize('binary', [False, True], ids=['text', 'binary'])
def test_colmap_truncated_files_are_named(tmp_path, binary):
    colmap = ColmapModel('PINHOLE')
    colmap.write_images(tmp_path / 'images')
    (colmap.write_binary if binary else colmap.write_text)(tmp_path)
    images = tmp_path / ('images.bin' if binary else 'images.txt')
    images.write_bytes(images.read_bytes()[:-40])
    problem = r'images\.(bin|txt): (line|byte) \d+: (malformed|truncated)'
    with pytest.raises(SceneFormatError, match=problem):
        read_colmap_model(tmp_path)


def test_colmap_missing_image_is_named(tmp_path):
    colmap = ColmapModel('PINHOLE')
    colmap.write_images(tmp_path / 'images')
    colmap.write_text(tmp_path / 'sparse' / '0')
    (tmp_path / 'images' / 'view_01.png').unlink()
    with pytest.raises(SceneFormatError, match='view_01.png: file not found'):
        read_colmap_model(tmp_path)


# --- transforms.json ---------------------------------------------------------------------

@pytest.fixture(scope='module')
def rendered_views():
    """Return (camera, captured views, generated views) of the procedural scene, small."""
    scene = ProceduralScene(seed=1)
    camera = default_camera().scaled(64, 48)
    poses = scene.camera_path(5)
    views = []
    for index, pose in enumerate(poses):
        rgb, depth = scene.render(camera, pose)
        depth[:3, :7] = np.nan
        views.append(CaptureView(view_id=index, rgb=rgb, camera=camera, camera_to_world=pose,
                                 depth=depth))
    captured, generated = views[:3], views[3:]
    generated[0] = CaptureView(view_id=0, rgb=generated[0].rgb, camera=camera,
                               camera_to_world=generated[0].camera_to_world)
    return camera, captured, generated


def test_transforms_json_round_trip(tmp_path, rendered_views):
    camera, captured, generated = rendered_views
    path = write_transforms_json(tmp_path, camera, captured, generated)
    assert path == tmp_path / 'transforms.json'
    written = json.loads(path.read_text())
    assert written['camera_model'] == 'OPENCV' and written['depth_unit_scale_factor'] == 0.001
    assert 'depth_file_path' not in written['frames'][3]
    scene = read_transforms_json(tmp_path)
    assert scene.camera == camera
    assert [frame.origin for frame in scene.frames] == [CAPTURED] * 3 + [GENERATED] * 2
    for index, original in enumerate(captured + generated):
        view = scene.view(index)
        np.testing.assert_allclose(view.camera_to_world, original.camera_to_world, atol=1e-6)
        np.testing.assert_array_equal(view.rgb, original.rgb)
        if original.depth is None:
            assert view.depth is None
            continue
        np.testing.assert_array_equal(np.isnan(view.depth), np.isnan(original.depth))
        assert np.nanmax(np.abs(view.depth - original.depth)) <= 0.0005 + 1e-6


def test_transforms_json_uses_opengl_camera_axes(tmp_path):
    # An OpenGL camera at the origin with the identity pose looks down -z, y up.
    write_png(tmp_path / 'images' / 'a.png', np.zeros((48, 64, 3), dtype=np.uint8))
    frame = {'file_path': 'images/a.png', 'transform_matrix': np.eye(4).tolist()}
    description = {'fl_x': 100.0, 'fl_y': 100.0, 'cx': 32.0, 'cy': 24.0, 'w': 64, 'h': 48,
                   'frames': [frame]}
    (tmp_path / 'transforms.json').write_text(json.dumps(description))
    scene = read_transforms_json(tmp_path / 'transforms.json')
    point = np.array([[0.1, 0.2, -2.0]])       # ahead, right and above
    pixel, depth = project(scene.camera, scene.poses[0], point)
    # nerfstudio's pixel (32 + 100 * 0.05, 24 - 100 * 0.1) = (37, 14), whose centres are at +0.5.
    np.testing.assert_allclose(pixel[0], [36.5, 13.5], atol=1e-9)
    assert depth[0] == pytest.approx(2.0)


def test_transforms_json_of_a_blender_data_set(tmp_path):
    # NeRF's synthetic scenes: camera_angle_x, no size, paths without extension, RGBA.
    write_png(tmp_path / 'train' / 'r_0.png', np.full((48, 64, 4), 200, dtype=np.uint8))
    pose = np.eye(4)
    pose[:3, 3] = [0.0, -4.0, 1.0]
    description = {'camera_angle_x': 0.6911112070083618,
                   'frames': [{'file_path': './train/r_0', 'transform_matrix': pose.tolist()}]}
    (tmp_path / 'transforms_train.json').write_text(json.dumps(description))
    scene = open_scene(tmp_path / 'transforms_train.json')
    focal = 0.5 * 64 / np.tan(0.5 * 0.6911112070083618)
    assert scene.camera == PinholeCamera(64, 48, focal, focal, 31.5, 23.5)
    assert scene.view(0).rgb.shape == (48, 64, 3)


def test_transforms_json_with_distortion_reads_a_pinhole_camera(tmp_path, rendered_views):
    camera, captured, _ = rendered_views
    path = write_transforms_json(tmp_path, camera, captured)
    description = json.loads(path.read_text())
    description['k1'] = -0.1
    path.write_text(json.dumps(description))
    scene = read_transforms_json(path)
    assert scene.camera == camera and scene.recorded_camera.distortion[0] == -0.1
    assert not np.array_equal(scene.view(0).rgb, captured[0].rgb)


def test_transforms_json_problems_name_the_file(tmp_path, rendered_views):
    camera, captured, _ = rendered_views
    path = write_transforms_json(tmp_path, camera, captured)
    description = json.loads(path.read_text())
    description['camera_model'] = 'OPENCV_FISHEYE'
    path.write_text(json.dumps(description))
    with pytest.raises(SceneFormatError, match='transforms.json: .*OPENCV_FISHEYE'):
        read_transforms_json(path)
    description['camera_model'] = 'OPENCV'
    description['frames'][1]['fl_x'] = 99.0
    path.write_text(json.dumps(description))
    with pytest.raises(SceneFormatError, match='transforms.json: frames have 2 different'):
        read_transforms_json(path)


def test_writing_refuses_views_of_another_size(tmp_path, rendered_views):
    camera, captured, _ = rendered_views
    with pytest.raises(ValueError, match='rgb must be'):
        write_transforms_json(tmp_path, camera.scaled(32, 24), captured)


# --- open_scene --------------------------------------------------------------------------

def test_open_scene_recognises_every_format(tmp_path, rendered_views):
    write_posed_folder(tmp_path / 'posed')
    assert len(open_scene(tmp_path / 'posed')) == 2
    assert len(open_scene(tmp_path / 'posed' / 'scene.json')) == 2
    colmap = ColmapModel('PINHOLE')
    colmap.write_images(tmp_path / 'project' / 'images')
    colmap.write_binary(tmp_path / 'project' / 'sparse' / '0')
    assert len(open_scene(tmp_path / 'project')) == 3
    assert len(open_scene(str(tmp_path / 'project' / 'sparse' / '0'))) == 3
    camera, captured, generated = rendered_views
    write_transforms_json(tmp_path / 'nerfstudio', camera, captured, generated)
    assert len(open_scene(tmp_path / 'nerfstudio')) == 5
    assert len(open_scene(tmp_path / 'nerfstudio' / 'transforms.json')) == 5


@pytest.mark.parametrize('name', ['empty', 'missing'])
def test_open_scene_lists_the_accepted_formats(tmp_path, name):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SceneFormatError, match='accepted: a posed-scene folder') as error:
        open_scene(tmp_path / name)
    assert str(tmp_path / name) in str(error.value)
