# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The posed-scene folder: ``scene.json`` naming RGB images, optional 16-bit depth and poses.

Keys: ``width height fx fy cx cy`` (pinhole intrinsics of the images),
``distortion`` (null or OpenCV k1 k2 p1 p2 [k3]; the images are not
undistorted), ``depth_scale`` (null, or raw depth units per metre) and
``frames``: ``{"image": path, "depth": path (optional), "c2w": 4x4 row-major,
"near": depth, "far": depth (optional, both or neither: the depths in scene
units between which the frame sees the scene, as LLFF's poses_bounds)}`` with
camera-to-world poses in OpenCV axes. Paths are relative to the folder.
"""

import json
from pathlib import Path
import shutil

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.scene_io.scene import (depth_bounds, load_json_object, make_camera,
                                              require_key, rigid_pose, Scene, SceneFormatError,
                                              SceneFrame, stored_path)

SCENE_FILE = 'scene.json'
_INTRINSICS = ('width', 'height', 'fx', 'fy', 'cx', 'cy')


def read_posed_scene(folder) -> Scene:
    """Read a posed-scene folder; raise SceneFormatError naming the file on any problem."""
    folder = Path(folder)
    path = folder / SCENE_FILE
    description = load_json_object(path)
    intrinsics = {key: require_key(description, key, path) for key in _INTRINSICS}
    recorded_camera = make_camera(path, **intrinsics, distortion=description.get('distortion'))
    frames = require_key(description, 'frames', path)
    if not isinstance(frames, list) or not frames:
        raise SceneFormatError(f'{path}: "frames" must be a non-empty list')
    frames = [_frame(folder, path, i, frame) for i, frame in enumerate(frames)]
    metres_per_unit = _metres_per_unit(description, path)
    if metres_per_unit is None and any(frame.depth_path for frame in frames):
        raise SceneFormatError(f'{path}: frames name depth images but depth_scale is null')
    return Scene(camera=PinholeCamera(**intrinsics), frames=frames, name=folder.resolve().name,
                 source=folder, depth_metres_per_unit=metres_per_unit,
                 recorded_camera=recorded_camera)


def write_posed_scene(folder, scene: Scene) -> Path:
    """Write ``scene`` as a posed-scene folder (images copied); return its scene.json.

    The images are copied as they are on disk (``images/NNNNN_<name>``), so
    the camera written is the recorded one (with its distortion); depth
    images are copied too, with the scene's depth scale. Sparse points are
    not part of the format and are not written.
    """
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    camera = scene.recorded_camera
    frames = []
    for index, frame in enumerate(scene.frames):
        entry = {'image': _copy(frame.image_path, folder / 'images', index),
                 'c2w': frame.camera_to_world.tolist()}
        if frame.depth_path is not None:
            (folder / 'depth').mkdir(exist_ok=True)
            entry['depth'] = _copy(frame.depth_path, folder / 'depth', index)
        if frame.bounds is not None:
            entry['near'], entry['far'] = frame.bounds
        frames.append(entry)
    description = {'width': camera.width, 'height': camera.height, 'fx': camera.fx,
                   'fy': camera.fy, 'cx': camera.cx, 'cy': camera.cy,
                   'distortion': None if camera.distortion is None else
                   [float(value) for value in camera.distortion],
                   'depth_scale': (None if scene.depth_metres_per_unit is None
                                   else 1.0 / scene.depth_metres_per_unit),
                   'pose_convention': 'camera-to-world, OpenCV camera axes',
                   'frames': frames}
    path = folder / SCENE_FILE
    path.write_text(json.dumps(description, indent=1), encoding='utf-8')
    return path


def _copy(source: Path, folder: Path, index: int) -> str:
    target = folder / f'{index:05d}_{source.name}'
    shutil.copyfile(source, target)
    return f'{folder.name}/{target.name}'


def _frame(folder: Path, path: Path, index: int, frame: dict) -> SceneFrame:
    where = f'frames[{index}]'
    image = stored_path(folder, require_key(frame, 'image', path, where), path, f'{where}.image')
    pose = rigid_pose(require_key(frame, 'c2w', path, where), path, f'{where}.c2w')
    depth = frame.get('depth')
    if depth is not None:
        depth = stored_path(folder, depth, path, f'{where}.depth')
    bounds = None
    if 'near' in frame or 'far' in frame:
        bounds = depth_bounds(frame.get('near'), frame.get('far'), path, where)
    return SceneFrame(image_path=image, camera_to_world=pose, depth_path=depth, bounds=bounds)


def _metres_per_unit(description: dict, path: Path):
    scale = description.get('depth_scale')
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise SceneFormatError(f'{path}: depth_scale must be a positive number, got {scale!r}')
    return 1.0 / scale
