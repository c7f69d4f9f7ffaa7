# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon offline``: the loop on a scene folder and on ROS 2 bags (mcap, sqlite3)."""

from dataclasses import replace
import json

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

from anyrecon_ros.cli.main import main
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.scene_io import read_colmap_model
from anyrecon_ros.core.scene_io import write_transforms_json
from anyrecon_ros.core.transforms import matrix_to_quaternion_xyzw

CAMERA = default_camera().scaled(160, 120)
FRAMES = 6
# The classical fill as the generator: fast, and its views pass the fusion gate.
SMALL = ['--views', '2', '--max-frames', str(FRAMES), '--generation-width', '64',
         '--checkpoint', 'inpaint']
OUTPUTS = ('map.db', 'memory.ply', 'contact_sheet.png', 'summary.json')


@pytest.fixture(scope='module')
def captures():
    scene = ProceduralScene(seed=0)
    return [scene.capture_view(CAMERA, pose, index)
            for index, pose in enumerate(scene.camera_path(FRAMES))]


def _check_outputs(out, keyframes_at_most=FRAMES):
    assert all((out / name).is_file() for name in OUTPUTS)
    summary = json.loads((out / 'summary.json').read_text())
    assert 1 <= summary['keyframes'] <= keyframes_at_most
    assert summary['generated_views'] == summary['trajectory_views'] > 0
    assert summary['fused_views'] + summary['rejected_views'] == summary['generated_views']
    # Only what the fusion gate accepted is fused, so the map can only gain.
    assert summary['coverage_after'] >= summary['coverage_before']
    assert (summary['memory_points_after_generation']
            >= summary['memory_points_before_generation'])
    images = sorted((out / 'generated').glob('*.png'))
    assert len(images) == summary['generated_views']
    sheet = cv2.imread(str(out / 'contact_sheet.png'))
    assert sheet.shape[0] >= 3 * 120
    store = MapStore(out / 'map.db', create=False)
    try:
        assert store.info()['keyframes'] == summary['keyframes']
        assert store.info()['generated_views'] == summary['fused_views']
        assert len(store.load_memory()) == summary['memory_points_after_generation']
    finally:
        store.close()
    return summary


def test_offline_on_a_scene_folder(tmp_path, captures):
    write_transforms_json(tmp_path / 'scene', CAMERA, captures)
    assert main(['offline', '--scene', str(tmp_path / 'scene'), '--out', str(tmp_path / 'out'),
                 *SMALL]) == 0
    _check_outputs(tmp_path / 'out')


def test_offline_on_an_rgb_only_scene_in_other_units(tmp_path):
    """Poses in units 20 times smaller than metres, no depth: a map, and exports in its units."""
    scene = ProceduralScene(seed=0)
    views = []
    for index, pose in enumerate(scene.camera_path(30)[:8]):
        view = scene.capture_view(CAMERA, pose, index)
        pose = pose.copy()
        pose[:3, 3] *= 20.0
        views.append(replace(view, depth=None, camera_to_world=pose))
    write_transforms_json(tmp_path / 'scene', CAMERA, views)
    assert main(['offline', '--scene', str(tmp_path / 'scene'), '--out', str(tmp_path / 'out'),
                 '--views', '1', '--generation-width', '64', '--checkpoint', 'inpaint']) == 0
    summary = _check_outputs(tmp_path / 'out', keyframes_at_most=8)
    units = summary['units']
    assert not units['metric'] and units['source'] == 'matched points'
    # The procedural room is seen from about 2 m: 40 of these units.
    assert 15.0 < units['scale'] < 35.0
    assert summary['memory_points_before_generation'] > 100
    assert main(['map', 'export', str(tmp_path / 'out' / 'map.db'), '--colmap',
                 str(tmp_path / 'colmap')]) == 0
    exported = read_colmap_model(tmp_path / 'colmap')
    keyframes = [frame for frame in exported.frames
                 if frame.image_path.name.startswith('keyframe_')]
    assert len(keyframes) == summary['keyframes']
    # Exported poses are the scene's own, in its units: each is one of its frames'.
    for frame in keyframes:
        distance = [np.abs(frame.camera_to_world - view.camera_to_world).max() for view in views]
        assert min(distance) < 1e-9


def _write_bag(path, captures, storage, pose_type='pose', depth=True, bad_pose_at=None):
    store = get_typestore(Stores.ROS2_KILTED)
    types = store.types
    with Writer(path, version=9, storage_plugin=storage) as writer:
        connections = {
            '/image': writer.add_connection('/image', 'sensor_msgs/msg/Image', typestore=store),
            '/camera_info': writer.add_connection('/camera_info', 'sensor_msgs/msg/CameraInfo',
                                                  typestore=store)}
        if depth:
            connections['/depth'] = writer.add_connection('/depth', 'sensor_msgs/msg/Image',
                                                          typestore=store)
        pose_msgtype = ('geometry_msgs/msg/PoseStamped' if pose_type == 'pose'
                        else 'nav_msgs/msg/Odometry')
        connections['/pose'] = writer.add_connection('/pose', pose_msgtype, typestore=store)
        for index, view in enumerate(captures):
            stamp_ns = 1_000_000_000 + index * 200_000_000
            header = types['std_msgs/msg/Header'](
                stamp=types['builtin_interfaces/msg/Time'](sec=stamp_ns // 10 ** 9,
                                                           nanosec=stamp_ns % 10 ** 9),
                frame_id='map')
            messages = {'/image': _image(types, header, view.rgb, 'rgb8'),
                        '/camera_info': _camera_info(types, header),
                        '/pose': _pose(types, header, view.camera_to_world, pose_type)}
            if index == bad_pose_at:
                messages['/pose'].pose.orientation.w = 2.0   # not a unit quaternion
            if depth:
                messages['/depth'] = _image(types, header, view.depth.astype(np.float32),
                                            '32FC1')
            # The pose comes after the image, as from a SLAM system running behind.
            for topic in ('/image', '/camera_info', '/depth', '/pose'):
                if topic in messages:
                    writer.write(connections[topic], stamp_ns + 1000,
                                 store.serialize_cdr(messages[topic],
                                                     connections[topic].msgtype))


def _image(types, header, array, encoding):
    array = np.ascontiguousarray(array)
    return types['sensor_msgs/msg/Image'](
        header=header, height=array.shape[0], width=array.shape[1], encoding=encoding,
        is_bigendian=0, step=array.strides[0], data=array.view(np.uint8).reshape(-1))


def _camera_info(types, header):
    roi = types['sensor_msgs/msg/RegionOfInterest'](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    projection = np.zeros((3, 4))
    projection[:, :3] = CAMERA.K
    return types['sensor_msgs/msg/CameraInfo'](
        header=header, height=CAMERA.height, width=CAMERA.width, distortion_model='plumb_bob',
        d=np.zeros(5), k=CAMERA.K.reshape(-1).astype(np.float64), r=np.eye(3).reshape(-1),
        p=projection.reshape(-1), binning_x=0, binning_y=0, roi=roi)


def _pose(types, header, matrix, pose_type):
    x, y, z, w = matrix_to_quaternion_xyzw(matrix[:3, :3])
    pose = types['geometry_msgs/msg/Pose'](
        position=types['geometry_msgs/msg/Point'](x=matrix[0, 3], y=matrix[1, 3],
                                                  z=matrix[2, 3]),
        orientation=types['geometry_msgs/msg/Quaternion'](x=x, y=y, z=z, w=w))
    if pose_type == 'pose':
        return types['geometry_msgs/msg/PoseStamped'](header=header, pose=pose)
    covariance = np.zeros(36)
    return types['nav_msgs/msg/Odometry'](
        header=header, child_frame_id='camera',
        pose=types['geometry_msgs/msg/PoseWithCovariance'](pose=pose, covariance=covariance),
        twist=types['geometry_msgs/msg/TwistWithCovariance'](
            twist=types['geometry_msgs/msg/Twist'](
                linear=types['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=0.0),
                angular=types['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=0.0)),
            covariance=covariance))


@pytest.mark.parametrize('storage, pose_type', [(StoragePlugin.MCAP, 'pose'),
                                                (StoragePlugin.SQLITE3, 'odom')])
def test_offline_on_a_bag(tmp_path, captures, storage, pose_type):
    _write_bag(tmp_path / 'bag', captures, storage, pose_type)
    assert main(['offline', '--bag', str(tmp_path / 'bag'), '--out', str(tmp_path / 'out'),
                 '--depth-topic', '/depth', *SMALL]) == 0
    summary = _check_outputs(tmp_path / 'out')
    assert summary['topics'] == {topic: {'read': FRAMES}
                                 for topic in ('/camera_info', '/depth', '/image', '/pose')}


def test_offline_bag_with_missing_topics_says_what_it_has(tmp_path, captures, capsys):
    _write_bag(tmp_path / 'bag', captures[:2], StoragePlugin.MCAP, depth=False)
    assert main(['offline', '--bag', str(tmp_path / 'bag'), '--out', str(tmp_path / 'out'),
                 '--depth-topic', '/camera/depth']) == 1
    error = capsys.readouterr().err
    assert '/camera/depth' in error and '/image (sensor_msgs/msg/Image)' in error
    assert not (tmp_path / 'out' / 'map.db').exists()


def test_a_bad_message_in_a_bag_is_dropped_and_counted(tmp_path, captures):
    _write_bag(tmp_path / 'bag', captures, StoragePlugin.MCAP, bad_pose_at=2)
    assert main(['offline', '--bag', str(tmp_path / 'bag'), '--out', str(tmp_path / 'out'),
                 '--depth-topic', '/depth', *SMALL]) == 0
    summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    assert summary['dropped']['bad_pose'] == 1
    assert summary['topics']['/pose'] == {'read': FRAMES}


def test_a_truncated_or_mistyped_bag_gives_one_clear_line(tmp_path, captures, capsys):
    _write_bag(tmp_path / 'bag', captures, StoragePlugin.MCAP)
    assert main(['offline', '--bag', str(tmp_path / 'bag'), '--out', str(tmp_path / 'out'),
                 '--pose-topic', '/depth']) == 1
    assert 'pose topic /depth' in capsys.readouterr().err
    (mcap,) = (tmp_path / 'bag').glob('*.mcap')
    mcap.write_bytes(mcap.read_bytes()[:len(mcap.read_bytes()) // 2])
    assert main(['offline', '--bag', str(tmp_path / 'bag'), '--out', str(tmp_path / 'out')]) == 1
    error = capsys.readouterr().err
    assert 'cannot be read' in error and 'Traceback' not in error


def _png_header(width, height) -> bytes:
    """Return a PNG that declares a ``width`` x ``height`` greyscale image (no pixels)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data)))
    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IEND', b'')


@pytest.mark.parametrize('damage, message', [
    ('fx', 'bad camera'), ('huge_image', 'not a readable image'),
    ('large_image', 'more than the 16777216 pixels')])
def test_a_hostile_scene_folder_gives_one_clear_line(tmp_path, captures, capsys, damage,
                                                     message):
    write_transforms_json(tmp_path / 'scene', CAMERA, captures)
    transforms = tmp_path / 'scene' / 'transforms.json'
    content = json.loads(transforms.read_text())
    if damage == 'fx':
        content['fl_x'] = 1e300
        transforms.write_text(json.dumps(content))
    else:
        size = 20000 if damage == 'huge_image' else 10000
        image = tmp_path / 'scene' / content['frames'][0]['file_path']
        image.write_bytes(_png_header(size, size))
    assert main(['offline', '--scene', str(tmp_path / 'scene'), '--out',
                 str(tmp_path / 'out'), *SMALL]) == 1
    error = capsys.readouterr().err
    assert message in error and 'Traceback' not in error, error
