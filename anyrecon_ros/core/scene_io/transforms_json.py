# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""nerfstudio / instant-ngp ``transforms.json``: reading, and writing a nerfstudio folder.

The file stores camera-to-world matrices in the OpenGL / NeRF camera axes
(x right, y up, z backwards); a ``Scene`` uses OpenCV axes (y down, z
forwards), so the camera's y and z axes flip on the way in and out. Both
tools put the centre of the top-left pixel at (0.5, 0.5) (they cast rays
through ``pixel + 0.5``); a ``PinholeCamera`` puts it at (0, 0), so ``cx`` and
``cy`` move by half a pixel on the way in and out.
"""

from dataclasses import replace
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.scene_io.scene import (CAPTURED, GENERATED, image_size, load_json_object,
                                              make_camera, require_key, rigid_pose, Scene,
                                              SceneFormatError, SceneFrame, stored_path)

TRANSFORMS_FILE = 'transforms.json'
# Right-multiplying a camera-to-world pose flips its camera's y and z axes:
# OpenGL <-> OpenCV. The matrix is its own inverse.
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
# Written depth: 16-bit millimetres, 0 where unknown.
DEPTH_METRES_PER_UNIT = 0.001
_MAX_DEPTH_UNITS = 65534        # 65535 reads back as invalid
_IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.PNG', '.JPG', '.JPEG')
_SUPPORTED_CAMERA_MODELS = ('OPENCV', 'PINHOLE')
_INTRINSIC_KEYS = ('w', 'h', 'fl_x', 'fl_y', 'cx', 'cy', 'camera_angle_x', 'camera_angle_y',
                   'k1', 'k2', 'p1', 'p2', 'k3', 'camera_model')
ORIGIN_KEY = 'anyrecon_origin'


def read_transforms_json(path_or_folder) -> Scene:
    """Read a transforms.json (or the folder holding one) into a Scene with OpenCV poses.

    Intrinsics come from the top level, optionally overridden per frame, and
    must be the same for every frame; ``camera_angle_x``/``_y`` stand in for
    missing focal lengths, and the first image's size for missing ``w``/``h``.
    """
    path = Path(path_or_folder)
    if path.is_dir():
        path = path / TRANSFORMS_FILE
    description = load_json_object(path)
    frame_entries = require_key(description, 'frames', path)
    if not isinstance(frame_entries, list) or not frame_entries:
        raise SceneFormatError(f'{path}: "frames" must be a non-empty list')
    frames = [_frame(path, i, entry) for i, entry in enumerate(frame_entries)]
    recorded_camera = _shared_camera(path, description, frame_entries, frames[0].image_path)
    has_depth = any(frame.depth_path is not None for frame in frames)
    return Scene(camera=replace(recorded_camera, distortion=None), frames=frames,
                 name=path.parent.resolve().name, source=path, recorded_camera=recorded_camera,
                 depth_metres_per_unit=_depth_scale(path, description) if has_depth else None)


def write_transforms_json(folder, camera: PinholeCamera, views, generated_views=(),
                          depth_unit: float = DEPTH_METRES_PER_UNIT) -> Path:
    """Write views as a nerfstudio folder; return the path of its transforms.json.

    ``images/<origin>_<n>.png`` hold the RGB, ``depth/<origin>_<n>.png`` the
    depth (16-bit, ``depth_unit`` metres or scene units each: millimetres by
    default; 0 unknown) of views that have some, and each frame says whether
    it was captured or generated (``anyrecon_origin``). Views are objects with
    ``rgb``, ``camera_to_world`` and optional ``depth`` (CaptureView), all
    seen through ``camera``, which must be undistorted.
    """
    if not (math.isfinite(depth_unit) and depth_unit > 0):
        raise ValueError(f'depth_unit must be a positive number, got {depth_unit}')
    if camera.has_distortion:
        raise ValueError('write_transforms_json writes pinhole views; undistort them first')
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    frames = [_write_frame(folder, camera, origin, index, view, depth_unit)
              for origin, group in ((CAPTURED, views), (GENERATED, generated_views))
              for index, view in enumerate(group)]
    description = {
        'camera_model': 'OPENCV',
        'w': camera.width, 'h': camera.height, 'fl_x': camera.fx, 'fl_y': camera.fy,
        'cx': camera.cx + 0.5, 'cy': camera.cy + 0.5,
        'k1': 0.0, 'k2': 0.0, 'p1': 0.0, 'p2': 0.0,
        'depth_unit_scale_factor': depth_unit,
        'frames': frames,
    }
    path = folder / TRANSFORMS_FILE
    path.write_text(json.dumps(description, indent=1), encoding='utf-8')
    return path


def _frame(path: Path, index: int, entry: dict) -> SceneFrame:
    where = f'frames[{index}]'
    image = _image_path(path, require_key(entry, 'file_path', path, where), f'{where}.file_path')
    matrix = require_key(entry, 'transform_matrix', path, where)
    pose = rigid_pose(matrix, path, f'{where}.transform_matrix') @ OPENGL_TO_OPENCV
    depth = entry.get('depth_file_path')
    if depth is not None:
        depth = stored_path(path.parent, depth, path, f'{where}.depth_file_path')
    origin = entry.get(ORIGIN_KEY, CAPTURED)
    if origin not in (CAPTURED, GENERATED):
        raise SceneFormatError(f'{path}: {where}.{ORIGIN_KEY} must be "{CAPTURED}" or '
                               f'"{GENERATED}", got {origin!r}')
    return SceneFrame(image_path=image, camera_to_world=pose, depth_path=depth, origin=origin)


def _image_path(path: Path, value, where: str) -> Path:
    # Blender-made NeRF data sets name images without their extension.
    image = stored_path(path.parent, value, path, where)
    if image.is_file():
        return image
    candidates = [image.with_name(image.name + suffix) for suffix in _IMAGE_SUFFIXES]
    return next((candidate for candidate in candidates if candidate.is_file()), image)


def _shared_camera(path: Path, description: dict, entries: list, first_image: Path):
    top_level = {key: description[key] for key in _INTRINSIC_KEYS if key in description}
    cameras = set()
    for index, entry in enumerate(entries):
        settings = {**top_level, **{key: entry[key] for key in _INTRINSIC_KEYS if key in entry}}
        cameras.add(_camera(path, settings, first_image, f'frames[{index}]'))
    if len(cameras) > 1:
        raise SceneFormatError(f'{path}: frames have {len(cameras)} different cameras; '
                               'a Scene has one shared camera')
    return cameras.pop()


def _camera(path: Path, settings: dict, first_image: Path, where: str) -> PinholeCamera:
    model = settings.get('camera_model', 'OPENCV')
    if model not in _SUPPORTED_CAMERA_MODELS:
        raise SceneFormatError(f'{path}: {where}: camera_model {model} is not supported '
                               f'(supported: {", ".join(_SUPPORTED_CAMERA_MODELS)})')
    try:
        if 'w' in settings and 'h' in settings:
            width, height = _pixel_count(settings['w']), _pixel_count(settings['h'])
        else:
            width, height = image_size(first_image)
        fx = _focal(settings, 'fl_x', 'camera_angle_x', width)
        fy = _focal(settings, 'fl_y', 'camera_angle_y', height, default=fx)
        cx, cy = float(settings.get('cx', width / 2)), float(settings.get('cy', height / 2))
        distortion = [float(settings.get(key, 0.0)) for key in ('k1', 'k2', 'p1', 'p2', 'k3')]
    except (TypeError, ValueError) as error:
        raise SceneFormatError(f'{path}: {where}: bad intrinsics ({error})') from None
    return make_camera(path, width=width, height=height, fx=fx, fy=fy, cx=cx - 0.5, cy=cy - 0.5,
                       distortion=distortion)


def _pixel_count(value):
    # Some writers store sizes as floats (800.0); PinholeCamera wants integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _focal(settings: dict, focal_key: str, angle_key: str, size: int, default=None) -> float:
    if focal_key in settings:
        return float(settings[focal_key])
    if angle_key in settings:
        return 0.5 * size / math.tan(0.5 * float(settings[angle_key]))
    if default is None:
        raise ValueError(f'missing key "{focal_key}" (or "{angle_key}")')
    return default


def _depth_scale(path: Path, description: dict) -> float:
    # nerfstudio's default when frames have depth but no scale: millimetres.
    scale = description.get('depth_unit_scale_factor', DEPTH_METRES_PER_UNIT)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise SceneFormatError(f'{path}: depth_unit_scale_factor must be a positive number, '
                               f'got {scale!r}')
    return float(scale)


def _write_frame(folder: Path, camera: PinholeCamera, origin: str, index: int, view,
                 depth_unit: float) -> dict:
    size = (camera.height, camera.width)
    if view.rgb.shape != size + (3,) or view.rgb.dtype != np.uint8:
        raise ValueError(f'{origin} view {index}: rgb must be uint8 {size + (3,)}, '
                         f'got {view.rgb.dtype} {view.rgb.shape}')
    if getattr(view, 'camera', camera) != camera:
        raise ValueError(f'{origin} view {index} has another camera than the one written')
    name = f'{origin}_{index:05d}.png'
    Image.fromarray(view.rgb).save(folder / 'images' / name)
    frame = {'file_path': f'images/{name}',
             'transform_matrix': (np.asarray(view.camera_to_world) @ OPENGL_TO_OPENCV).tolist(),
             ORIGIN_KEY: origin}
    depth = getattr(view, 'depth', None)
    if depth is not None:
        if depth.shape != size:
            raise ValueError(f'{origin} view {index}: depth {depth.shape} does not match {size}')
        (folder / 'depth').mkdir(exist_ok=True)
        Image.fromarray(_depth_units(depth, depth_unit)).save(folder / 'depth' / name)
        frame['depth_file_path'] = f'depth/{name}'
    return frame


def _depth_units(depth: np.ndarray, depth_unit: float) -> np.ndarray:
    """Return depth as uint16 multiples of ``depth_unit``, 0 where unknown or out of range."""
    with np.errstate(invalid='ignore'):
        units = np.round(depth.astype(np.float64) / depth_unit)
        valid = np.isfinite(units) & (units >= 1) & (units <= _MAX_DEPTH_UNITS)
    return np.where(valid, units, 0).astype(np.uint16)
