# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A posed image scene on disk, read lazily: one camera, frames with poses, optional points.

Every reader (posed folder, COLMAP, transforms.json) parses its metadata into
a ``Scene``; building the scene checks every image and depth file it names
(existence, size, pixel format, from the file headers only), so a malformed
scene fails on opening with a ``SceneFormatError`` that names the file,
never later in the middle of a run.
"""

from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Optional
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from anyrecon_ros.core.camera import MAX_IMAGE_PIXELS, PinholeCamera, undistort
from anyrecon_ros.core.transforms import nearest_rigid
from anyrecon_ros.core.view_bank import CaptureView

# Raw depth values that mean "no measurement" in 16-bit depth images.
INVALID_DEPTH_VALUES = (0, 65535)
_DEPTH_MODES = ('I;16', 'I;16L', 'I;16B', 'I')
CAPTURED, GENERATED = 'captured', 'generated'


class SceneFormatError(ValueError):
    """A scene on disk is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class SceneFrame:
    """One frame of a scene: its files and its camera-to-world pose (OpenCV axes)."""

    image_path: Path
    camera_to_world: np.ndarray
    depth_path: Optional[Path] = None
    origin: str = CAPTURED      # or GENERATED, for scenes this package exported
    # (near, far): the depths, in scene units, between which this frame sees the
    # scene (LLFF's poses_bounds, a posed folder's near/far), or None.
    bounds: Optional[tuple] = None


@dataclass(frozen=True)
class SparsePoints:
    """Sparse world points with colours, as a structure-from-motion model has them."""

    xyz: np.ndarray     # (N, 3) float64, world frame
    rgb: np.ndarray     # (N, 3) uint8


@dataclass
class Scene:
    """Frames that share one pinhole camera; ``view(i)`` loads frame i's pixels.

    ``camera`` is what views come with and never has distortion. When the
    files were recorded through a distorting lens, ``recorded_camera`` holds
    that lens and every image is undistorted on load (same size and K).
    ``depth_metres_per_unit`` converts the raw 16-bit depth files to metres.
    """

    camera: PinholeCamera
    frames: list
    name: str = ''
    source: Optional[Path] = None
    depth_metres_per_unit: Optional[float] = None
    points: Optional[SparsePoints] = None
    recorded_camera: Optional[PinholeCamera] = field(default=None, repr=False)

    def __post_init__(self):
        if self.camera.has_distortion:
            raise ValueError('a Scene camera has no distortion; pass the lens as recorded_camera')
        if self.recorded_camera is None:
            self.recorded_camera = self.camera
        if not self.frames:
            raise SceneFormatError(f'{self.source}: the scene has no frames')
        has_depth = any(frame.depth_path is not None for frame in self.frames)
        if has_depth and not self.depth_metres_per_unit:
            raise SceneFormatError(f'{self.source}: frames have depth but no depth scale')
        for frame in self.frames:
            _check_image_file(frame.image_path, self.recorded_camera, 'image')
            if frame.depth_path is not None:
                _check_image_file(frame.depth_path, self.recorded_camera, 'depth')

    def __len__(self):
        return len(self.frames)

    @property
    def poses(self) -> np.ndarray:
        """Return every frame's camera-to-world pose, (N, 4, 4)."""
        return np.stack([frame.camera_to_world for frame in self.frames])

    def view(self, index: int) -> CaptureView:
        """Load frame ``index``: RGB uint8 and depth float32 metres (NaN invalid), undistorted."""
        frame = self.frames[index]
        rgb, _ = undistort(self.recorded_camera, read_rgb(frame.image_path))
        depth = None
        if frame.depth_path is not None:
            depth, _ = undistort(self.recorded_camera,
                                 read_depth(frame.depth_path, self.depth_metres_per_unit))
        return CaptureView(view_id=index, rgb=rgb, camera=self.camera,
                           camera_to_world=frame.camera_to_world.copy(), depth=depth)


def read_rgb(path: Path) -> np.ndarray:
    """Return an image file as (H, W, 3) uint8 RGB (grey, palette and alpha converted)."""
    with _open_image(path) as image:
        return np.asarray(_decoded(path, lambda: image.convert('RGB')))


def read_depth(path: Path, metres_per_unit: float) -> np.ndarray:
    """Return a 16-bit depth image in float32 metres, NaN where the raw value is 0 or 65535."""
    with _open_image(path) as image:
        _decoded(path, image.load)
        raw = np.asarray(image)
    depth = raw.astype(np.float32) * np.float32(metres_per_unit)
    depth[np.isin(raw, INVALID_DEPTH_VALUES)] = np.nan
    return depth


def load_json_object(path: Path) -> dict:
    """Return the JSON object in ``path``, or raise SceneFormatError naming the file."""
    try:
        with open(path, encoding='utf-8') as file:
            content = json.load(file)
    except FileNotFoundError:
        raise SceneFormatError(f'{path}: file not found') from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SceneFormatError(f'{path}: not valid JSON ({error})') from None
    if not isinstance(content, dict):
        raise SceneFormatError(f'{path}: expected a JSON object, got {type(content).__name__}')
    return content


def require_key(mapping: dict, key: str, path: Path, where: str = ''):
    """Return ``mapping[key]``, or raise SceneFormatError naming the file and the key."""
    if not isinstance(mapping, dict):
        raise SceneFormatError(f'{path}: {where or "the top level"} is not a JSON object')
    if key not in mapping:
        raise SceneFormatError(f'{path}: {where + " " if where else ""}missing key "{key}"')
    return mapping[key]


def stored_path(folder: Path, value, path: Path, where: str) -> Path:
    """Return a file path stored in ``path`` (relative to ``folder``), checking it is a string."""
    if not isinstance(value, str) or not value:
        raise SceneFormatError(f'{path}: {where} must be a file path, got {value!r}')
    return folder / value


def rigid_pose(matrix, path: Path, where: str) -> np.ndarray:
    """Return a stored 4x4 pose made exactly rigid, or raise SceneFormatError naming it."""
    try:
        return nearest_rigid(np.asarray(matrix, dtype=np.float64))
    except (ValueError, TypeError) as error:
        raise SceneFormatError(f'{path}: {where} is not a rigid 4x4 transform ({error})') from None


def depth_bounds(near, far, path: Path, where: str) -> tuple:
    """Return stored (near, far) depths as floats, or raise SceneFormatError naming them."""
    values = (near, far)
    if any(isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
           for value in values):
        raise SceneFormatError(f'{path}: {where} near/far must be numbers, got {near!r}, {far!r}')
    near, far = float(near), float(far)
    if not (np.isfinite(far) and 0.0 < near < far):
        raise SceneFormatError(f'{path}: {where} needs 0 < near < far, got {near}, {far}')
    return near, far


def make_camera(path: Path, **intrinsics) -> PinholeCamera:
    """Return the PinholeCamera of stored intrinsics, or raise SceneFormatError naming the file."""
    try:
        return PinholeCamera(**intrinsics)
    except (ValueError, TypeError) as error:
        raise SceneFormatError(f'{path}: bad camera ({error})') from None


def image_size(path: Path) -> tuple:
    """Return (width, height) of an image file from its header."""
    with _open_image(path) as image:
        return image.size


def _check_image_file(path: Path, camera: PinholeCamera, kind: str) -> None:
    # Opening reads only the header: cheap even for thousands of frames.
    with _open_image(path) as image:
        if image.size != (camera.width, camera.height):
            raise SceneFormatError(
                f'{path}: {kind} is {image.size[0]}x{image.size[1]}, the camera is '
                f'{camera.width}x{camera.height}')
        if kind == 'depth' and image.mode not in _DEPTH_MODES:
            raise SceneFormatError(
                f'{path}: depth must be a single-channel 16-bit image, got mode {image.mode}')


def _decoded(path: Path, decode):
    # Headers were checked on opening; a file truncated or corrupt after them
    # only fails here, when its pixels are decoded.
    try:
        return decode()
    except OSError as error:
        raise SceneFormatError(f'{path}: image data cannot be decoded ({error})') from None


def _open_image(path: Path) -> Image.Image:
    """Open an image, reading its header only; refuse one larger than any camera's."""
    try:
        with warnings.catch_warnings():
            # PIL warns of images over its own limit; the size check below decides.
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError:
        raise SceneFormatError(f'{path}: file not found') from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise SceneFormatError(f'{path}: not a readable image ({error})') from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        # A small file can declare a huge image: refuse it before decoding.
        raise SceneFormatError(f'{path}: image is {width}x{height}, more than the '
                               f'{MAX_IMAGE_PIXELS} pixels a view may have (4096x4096)')
    return image
