# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""COLMAP sparse models, text (cameras.txt, images.txt, points3D.txt) or binary (.bin).

COLMAP stores world-to-camera poses (qw qx qy qz, t) in OpenCV camera axes,
and puts the centre of the top-left pixel at (0.5, 0.5); a ``Scene`` holds
camera-to-world poses and puts that centre at (0, 0), so the principal point
moves by half a pixel on reading and on writing. Frames are sorted by image
name. An LLFF capture's ``poses_bounds.npy`` beside the model (in the
project folder, one row per image in name order) gives each frame its
near/far bounds. ``write_colmap_text`` writes a text model with an
``images/`` folder beside ``sparse/0``, the layout Gaussian-splatting and
NeRF tools read.
"""

from dataclasses import replace
from pathlib import Path
import struct
from typing import NamedTuple

import numpy as np

from anyrecon_ros.core.scene_io.scene import (depth_bounds, make_camera, Scene, SceneFormatError,
                                              SceneFrame, SparsePoints)
from anyrecon_ros.core.transforms import (make_transform, quaternion_xyzw_to_matrix,
                                          transform_to_quaternion)

# COLMAP's camera model ids, by name (src/colmap/sensor/models.h).
CAMERA_MODEL_NAMES = ('SIMPLE_PINHOLE', 'PINHOLE', 'SIMPLE_RADIAL', 'RADIAL', 'OPENCV',
                      'OPENCV_FISHEYE', 'FULL_OPENCV', 'FOV', 'SIMPLE_RADIAL_FISHEYE',
                      'RADIAL_FISHEYE', 'THIN_PRISM_FISHEYE', 'RAD_TAN_THIN_PRISM_FISHEYE')
# The models a plumb_bob PinholeCamera represents exactly, with their parameter counts.
SUPPORTED_MODELS = {'SIMPLE_PINHOLE': 3, 'PINHOLE': 4, 'SIMPLE_RADIAL': 4, 'RADIAL': 5,
                    'OPENCV': 8}
_SINGLE_FOCAL_MODELS = ('SIMPLE_PINHOLE', 'SIMPLE_RADIAL', 'RADIAL')
# Where a COLMAP project keeps its model, relative to the project folder.
MODEL_SUBFOLDERS = ('.', 'sparse/0', 'sparse')
# LLFF's per-image poses and near/far bounds, in the project folder.
POSES_BOUNDS_FILE = 'poses_bounds.npy'


class _Camera(NamedTuple):
    model: str
    width: int
    height: int
    params: tuple


class _Image(NamedTuple):
    q_wxyz: tuple           # world-to-camera rotation
    translation: tuple      # world-to-camera translation
    camera_id: int
    name: str


def find_colmap_model(folder) -> Path | None:
    """Return the model folder in ``folder`` (itself, sparse/0 or sparse), or None."""
    for subfolder in MODEL_SUBFOLDERS:
        candidate = Path(folder) / subfolder
        if any((candidate / f'cameras.{ext}').is_file() for ext in ('bin', 'txt')):
            return candidate
    return None


def read_colmap_model(folder, images_folder=None) -> Scene:
    """Read a COLMAP sparse model (text or binary) with one shared camera into a Scene.

    ``folder`` is the model folder or a project folder holding ``sparse/0``.
    ``images_folder`` defaults to the nearest ``images/`` beside the model or
    up to three folders above it; image names are relative to it.
    """
    model = find_colmap_model(folder)
    if model is None:
        raise SceneFormatError(f'{folder}: no COLMAP model (cameras.bin or cameras.txt) in it '
                               f'or in {", ".join(MODEL_SUBFOLDERS[1:])}')
    images_folder = _images_folder(model) if images_folder is None else Path(images_folder)
    cameras_path, images_path = _model_file(model, 'cameras'), _model_file(model, 'images')
    cameras = _read(cameras_path, _read_cameras_text, _read_cameras_binary)
    images = sorted(_read(images_path, _read_images_text, _read_images_binary),
                    key=lambda image: image.name)
    if not images:
        raise SceneFormatError(f'{images_path}: the model has no images')
    recorded_camera = _shared_camera(cameras, {image.camera_id for image in images}, cameras_path)
    bounds = _llff_bounds(images_folder.parent, len(images))
    frames = [SceneFrame(image_path=images_folder / image.name,
                         camera_to_world=_camera_to_world(image, images_path), bounds=bound)
              for image, bound in zip(images, bounds)]
    return Scene(camera=replace(recorded_camera, distortion=None), frames=frames,
                 name=images_folder.resolve().parent.name, source=model,
                 points=_read_points(model), recorded_camera=recorded_camera)


def write_colmap_text(folder, images, points_xyz, points_rgb) -> Path:
    """Write a COLMAP text model to ``folder/sparse/0``; return that folder.

    ``images`` are (name, PinholeCamera, camera-to-world pose) with the name
    relative to ``folder/images`` (the caller writes the image files there);
    cameras must be undistorted, and equal ones are written once.
    ``points_xyz`` (N, 3) and ``points_rgb`` (N, 3) uint8 become points3D
    without tracks (no 2D observations), as initial points for a splat.
    """
    model = Path(folder) / 'sparse' / '0'
    model.mkdir(parents=True, exist_ok=True)
    camera_ids = {}
    image_lines = ['# Image list with two lines of data per image:',
                   '#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME',
                   '#   POINTS2D[] as (X, Y, POINT3D_ID): none, written by anyrecon_ros',
                   f'# Number of images: {len(images)}']
    for image_id, (name, camera, camera_to_world) in enumerate(images, 1):
        if camera.has_distortion:
            raise ValueError(f'image {name}: write_colmap_text writes pinhole cameras; '
                             'undistort first')
        if not name or name != name.strip() or '\n' in name:
            raise ValueError(f'image name {name!r} cannot be written in images.txt')
        camera_id = camera_ids.setdefault(camera, len(camera_ids) + 1)
        translation, (qx, qy, qz, qw) = transform_to_quaternion(
            np.linalg.inv(camera_to_world))
        values = [qw, qx, qy, qz, *translation]
        image_lines += [f'{image_id} ' + ' '.join(f'{value:.17g}' for value in values)
                        + f' {camera_id} {name}', '']
    camera_lines = ['# Camera list with one line of data per camera:',
                    '#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[fx, fy, cx, cy]',
                    f'# Number of cameras: {len(camera_ids)}']
    camera_lines += [f'{camera_id} PINHOLE {camera.width} {camera.height} {camera.fx:.17g} '
                     f'{camera.fy:.17g} {camera.cx + 0.5:.17g} {camera.cy + 0.5:.17g}'
                     for camera, camera_id in camera_ids.items()]
    (model / 'cameras.txt').write_text('\n'.join(camera_lines) + '\n', encoding='utf-8')
    (model / 'images.txt').write_text('\n'.join(image_lines) + '\n', encoding='utf-8')
    _write_points_text(model / 'points3D.txt', np.asarray(points_xyz, np.float64),
                       np.asarray(points_rgb, np.uint8))
    return model


def _write_points_text(path: Path, xyz: np.ndarray, rgb: np.ndarray):
    if xyz.shape != rgb.shape or xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f'points need (N, 3) positions and colours, got {xyz.shape}, '
                         f'{rgb.shape}')
    header = ('# 3D point list with one line of data per point:\n'
              '#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n'
              f'# Number of points: {len(xyz)}, mean track length: 0\n')
    # An error of 0 and an empty track: the points come from a fused memory, not matches.
    table = np.column_stack([np.arange(1, len(xyz) + 1), xyz, rgb, np.zeros(len(xyz))])
    with open(path, 'w', encoding='utf-8') as file:
        file.write(header)
        np.savetxt(file, table, fmt=['%d', '%.9g', '%.9g', '%.9g', '%d', '%d', '%d', '%d'])


def _llff_bounds(project: Path, count: int) -> list:
    """Return each image's (near, far) from the project's poses_bounds.npy, or Nones."""
    path = project / POSES_BOUNDS_FILE
    if not path.is_file():
        return [None] * count
    try:
        table = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise SceneFormatError(f'{path}: not a readable array ({error})') from None
    if table.ndim != 2 or table.shape[1] != 17:
        raise SceneFormatError(f'{path}: expected one row of 17 numbers per image, got '
                               f'shape {table.shape}')
    if len(table) != count:
        raise SceneFormatError(f"{path}: {len(table)} rows for the model's {count} images")
    return [depth_bounds(near, far, path, f'row {row}')
            for row, (near, far) in enumerate(table[:, -2:].astype(np.float64))]


def _images_folder(model: Path) -> Path:
    for folder in [model, *list(model.resolve().parents)[:3]]:
        if (folder / 'images').is_dir():
            return folder / 'images'
    raise SceneFormatError(f'{model}: no images/ folder beside the model or above it; '
                           'pass images_folder')


def _model_file(model: Path, stem: str) -> Path:
    for ext in ('bin', 'txt'):
        if (model / f'{stem}.{ext}').is_file():
            return model / f'{stem}.{ext}'
    raise SceneFormatError(f'{model / stem}.bin: file not found (nor {stem}.txt)')


def _read(path: Path, read_text, read_binary):
    """Parse a model file with the reader of its format; any parse failure names the file."""
    if path.suffix == '.bin':
        source = _BinaryReader(path.read_bytes())
        parse = read_binary
    else:
        source = _TextLines(path)
        parse = read_text
    try:
        return parse(source)
    except SceneFormatError as error:
        raise SceneFormatError(f'{path}: {source.position()}: {error}') from None
    except (ValueError, IndexError, struct.error) as error:
        raise SceneFormatError(f'{path}: {source.position()}: malformed ({error})') from None


def _shared_camera(cameras: dict, used_ids: set, path: Path):
    missing = sorted(used_ids - cameras.keys())
    if missing:
        raise SceneFormatError(f'{path}: images use camera ids {missing} that are not defined')
    distinct = {cameras[camera_id] for camera_id in used_ids}
    if len(distinct) > 1:
        raise SceneFormatError(
            f'{path}: images use {len(distinct)} different cameras (ids {sorted(used_ids)}); '
            'a Scene has one shared camera')
    model, width, height, params = distinct.pop()
    if model not in SUPPORTED_MODELS:
        raise SceneFormatError(f'{path}: camera model {model} is not supported '
                               f'(supported: {", ".join(SUPPORTED_MODELS)})')
    if len(params) != SUPPORTED_MODELS[model]:
        raise SceneFormatError(f'{path}: camera model {model} has {SUPPORTED_MODELS[model]} '
                               f'parameters, got {len(params)}')
    if model in _SINGLE_FOCAL_MODELS:
        focal, cx, cy, *distortion = params
        fx = fy = focal
    else:
        fx, fy, cx, cy, *distortion = params
    # SIMPLE_RADIAL and RADIAL are plumb_bob with the missing coefficients zero.
    distortion = (distortion + [0.0] * 4)[:4] if distortion else None
    return make_camera(path, width=width, height=height, fx=fx, fy=fy, cx=cx - 0.5, cy=cy - 0.5,
                       distortion=distortion)


def _camera_to_world(image: _Image, path: Path):
    qw, qx, qy, qz = image.q_wxyz
    try:
        world_to_camera_rotation = quaternion_xyzw_to_matrix([qx, qy, qz, qw])
    except ValueError as error:
        raise SceneFormatError(f'{path}: image {image.name}: {error}') from None
    rotation = world_to_camera_rotation.T
    return make_transform(rotation, -rotation @ np.asarray(image.translation, dtype=np.float64))


def _read_points(model: Path):
    for ext in ('bin', 'txt'):
        path = model / f'points3D.{ext}'
        if path.is_file():
            xyz, rgb = _read(path, _read_points_text, _read_points_binary)
            return SparsePoints(xyz=xyz, rgb=rgb)
    return None


class _TextLines:
    """The stripped lines of a text model file, comments dropped, counting line numbers."""

    def __init__(self, path: Path):
        try:
            self._lines = path.read_text(encoding='utf-8').splitlines()
        except UnicodeDecodeError as error:
            raise SceneFormatError(f'{path}: not a text model file ({error})') from None
        self.number = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        while self.number < len(self._lines):
            self.number += 1
            line = self._lines[self.number - 1]
            if not line.startswith('#'):
                return line.strip()
        raise StopIteration

    def position(self) -> str:
        return f'line {self.number}'


def _read_cameras_text(lines) -> dict:
    cameras = {}
    for line in lines:
        if line:
            camera_id, model, width, height, *params = line.split()
            cameras[int(camera_id)] = _Camera(model, int(width), int(height),
                                              tuple(float(p) for p in params))
    return cameras


def _read_images_text(lines) -> list:
    """Return the images; each has a second line, of 2D points, that this reader skips."""
    images = []
    for line in lines:
        if not line:
            continue
        # The name is the last field and may contain spaces.
        _, qw, qx, qy, qz, tx, ty, tz, camera_id, name = line.split(maxsplit=9)
        images.append(_Image((float(qw), float(qx), float(qy), float(qz)),
                             (float(tx), float(ty), float(tz)), int(camera_id), name))
        next(lines, None)   # the 2D points line, empty when the image has none
    return images


def _read_points_text(lines):
    rows = [line.split()[1:7] for line in lines if line]
    values = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return values[:, :3], values[:, 3:].astype(np.uint8)


class _BinaryReader:
    """Little-endian reads from the bytes of a binary model file."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def position(self) -> str:
        return f'byte {self.offset}'

    def read(self, fmt: str):
        values = struct.unpack_from('<' + fmt, self.data, self.offset)
        self.offset += struct.calcsize('<' + fmt)
        return values

    def skip(self, size: int):
        if self.offset + size > len(self.data):
            raise SceneFormatError('truncated file')
        self.offset += size

    def read_string(self) -> str:
        end = self.data.find(b'\0', self.offset)
        if end < 0:
            raise SceneFormatError('unterminated image name')
        text = self.data[self.offset:end].decode('utf-8')
        self.offset = end + 1
        return text


def _read_cameras_binary(reader: _BinaryReader) -> dict:
    cameras = {}
    for _ in range(reader.read('Q')[0]):
        camera_id, model_id, width, height = reader.read('iiQQ')
        if not 0 <= model_id < len(CAMERA_MODEL_NAMES):
            raise SceneFormatError(f'camera {camera_id} has unknown model id {model_id}')
        model = CAMERA_MODEL_NAMES[model_id]
        if model not in SUPPORTED_MODELS:
            # Unsupported models have parameter counts this reader does not track.
            raise SceneFormatError(f'camera model {model} is not supported '
                                   f'(supported: {", ".join(SUPPORTED_MODELS)})')
        params = reader.read(f'{SUPPORTED_MODELS[model]}d')
        cameras[camera_id] = _Camera(model, width, height, params)
    return cameras


def _read_images_binary(reader: _BinaryReader) -> list:
    images = []
    for _ in range(reader.read('Q')[0]):
        _, qw, qx, qy, qz, tx, ty, tz, camera_id = reader.read('i7di')
        name = reader.read_string()
        point_count = reader.read('Q')[0]
        reader.skip(point_count * struct.calcsize('<ddq'))
        images.append(_Image((qw, qx, qy, qz), (tx, ty, tz), camera_id, name))
    return images


def _read_points_binary(reader: _BinaryReader):
    count = reader.read('Q')[0]
    xyz, rgb = np.empty((count, 3)), np.empty((count, 3), dtype=np.uint8)
    for index in range(count):
        _, x, y, z, red, green, blue, _, track_length = reader.read('Q3d3BdQ')
        xyz[index], rgb[index] = (x, y, z), (red, green, blue)
        reader.skip(track_length * struct.calcsize('<ii'))
    return xyz, rgb
