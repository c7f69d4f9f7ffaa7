# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pinhole camera intrinsics with optional OpenCV plumb_bob distortion, and undistortion."""

from dataclasses import dataclass, replace
import functools
import math
import numbers

import cv2
import numpy as np

# OpenCV's plumb_bob model: k1, k2, p1, p2, k3. Four coefficients mean k3 = 0.
PLUMB_BOB_COEFFICIENTS = 5
# Largest image accepted anywhere (a 4K camera fits): one frame of this size is
# already ~50 MB of RGB and float depth, and nothing the loop does needs more.
MAX_IMAGE_PIXELS = 4096 * 4096
# Bound of focal lengths and principal points, pixels: a 0.02-degree field of
# view at 4096 px. Far beyond any lens, and small enough that projecting a point
# within the map's extent stays a finite number of pixels.
MAX_INTRINSIC_PIXELS = 1e7


@dataclass(frozen=True, eq=False)
class PinholeCamera:
    """Intrinsics of a pinhole camera, in pixels, validated on construction.

    ``distortion`` holds the five plumb_bob coefficients (k1, k2, p1, p2, k3)
    as a read-only float64 array, or None for an undistorted camera.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: np.ndarray | None = None

    def __post_init__(self):
        """Validate every field and store them in canonical types."""
        for name in ('width', 'height'):
            self._set(name, _positive_int(name, getattr(self, name)))
        if self.width * self.height > MAX_IMAGE_PIXELS:
            raise ValueError(f'camera is {self.width}x{self.height}, more than the '
                             f'{MAX_IMAGE_PIXELS} pixels accepted (4096x4096)')
        for name in ('fx', 'fy'):
            value = _finite_float(name, getattr(self, name))
            if not 0.0 < value <= MAX_INTRINSIC_PIXELS:
                raise ValueError(f'camera {name} must be positive and at most '
                                 f'{MAX_INTRINSIC_PIXELS:g} pixels, got {value}')
            self._set(name, value)
        for name in ('cx', 'cy'):
            value = _finite_float(name, getattr(self, name))
            if abs(value) > MAX_INTRINSIC_PIXELS:
                raise ValueError(f'camera {name} must be within +-{MAX_INTRINSIC_PIXELS:g} '
                                 f'pixels, got {value}')
            self._set(name, value)
        self._set('distortion', _plumb_bob(self.distortion))

    def _set(self, name, value):
        # The dataclass is frozen; canonicalising fields must bypass that once.
        object.__setattr__(self, name, value)

    @property
    def K(self) -> np.ndarray:  # noqa: N802  (the conventional name of the matrix)
        """Return the 3x3 intrinsic matrix as float64."""
        return np.array([[self.fx, 0.0, self.cx],
                         [0.0, self.fy, self.cy],
                         [0.0, 0.0, 1.0]])

    @property
    def has_distortion(self) -> bool:
        """Return whether the camera has non-zero distortion coefficients."""
        return self.distortion is not None

    def scaled(self, width: int, height: int) -> 'PinholeCamera':
        """Return this camera for its image resized to ``width`` x ``height``.

        Pixel centres sit at integer coordinates (OpenCV), so the principal
        point scales about the image corner half a pixel before the first
        centre, as cv2.resize samples. Distortion acts on normalised
        coordinates and is unchanged.
        """
        scale_x, scale_y = width / self.width, height / self.height
        return replace(self, width=width, height=height,
                       fx=self.fx * scale_x, fy=self.fy * scale_y,
                       cx=(self.cx + 0.5) * scale_x - 0.5, cy=(self.cy + 0.5) * scale_y - 0.5)

    def bounded(self, width: int) -> 'PinholeCamera':
        """Return this camera scaled down to at most ``width`` pixels across, same aspect."""
        if self.width <= width:
            return self
        return self.scaled(width, max(1, round(self.height * width / self.width)))

    def _key(self):
        distortion = None if self.distortion is None else tuple(self.distortion)
        return (self.width, self.height, self.fx, self.fy, self.cx, self.cy, distortion)

    def __eq__(self, other):
        """Compare all fields, distortion coefficients by value."""
        if not isinstance(other, PinholeCamera):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        """Hash all fields, consistently with equality."""
        return hash(self._key())


def _positive_int(name, value) -> int:
    # bool is an Integral, but a camera True pixels wide is a bug upstream.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f'camera {name} must be a positive integer, got {value!r}')
    return int(value)


def _finite_float(name, value) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f'camera {name} must be finite, got {value}')
    return value


def _plumb_bob(coefficients) -> np.ndarray | None:
    if coefficients is None:
        return None
    coefficients = np.asarray(coefficients, dtype=np.float64).reshape(-1)
    if coefficients.size not in (4, PLUMB_BOB_COEFFICIENTS):
        raise ValueError(
            f'plumb_bob distortion needs 4 or 5 coefficients, got {coefficients.size}')
    if not np.all(np.isfinite(coefficients)):
        raise ValueError(f'distortion coefficients must be finite, got {coefficients}')
    if not np.any(coefficients):
        return None
    coefficients = np.pad(coefficients, (0, PLUMB_BOB_COEFFICIENTS - coefficients.size))
    coefficients.setflags(write=False)
    return coefficients


_INTERPOLATIONS = {'linear': cv2.INTER_LINEAR, 'nearest': cv2.INTER_NEAREST,
                   'cubic': cv2.INTER_CUBIC}


def undistort(camera: PinholeCamera, image: np.ndarray, interpolation=None):
    """Return ``(image, camera)`` with the lens distortion removed, same size and same K.

    Inputs are undistorted once, on arrival, so everything downstream is a
    plain pinhole. Keeping K (rather than cv2.getOptimalNewCameraMatrix) keeps
    the intrinsics a scene declares: pixels that map outside the recorded
    image become 0 (uint8) or NaN (float, invalid depth), and the edge of a
    barrel-distorted image is cropped.

    ``interpolation`` is 'linear', 'nearest' or 'cubic'; None picks 'nearest'
    for single-channel float images (depth: an invalid NaN pixel must not
    bleed into its neighbours, nor depth be blended across an edge) and
    'linear' otherwise. An undistorted camera returns the image unchanged.
    """
    if image.shape[:2] != (camera.height, camera.width):
        raise ValueError(f'image {image.shape[:2]} does not match the camera size '
                         f'{(camera.height, camera.width)}')
    pinhole = replace(camera, distortion=None)
    if not camera.has_distortion:
        return image, pinhole
    if interpolation is None:
        is_depth = image.ndim == 2 and np.issubdtype(image.dtype, np.floating)
        interpolation = 'nearest' if is_depth else 'linear'
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {sorted(_INTERPOLATIONS)}, '
                         f'got {interpolation!r}')
    map_x, map_y = _undistortion_maps(camera)
    outside = np.nan if np.issubdtype(image.dtype, np.floating) else 0
    undistorted = cv2.remap(image, map_x, map_y, _INTERPOLATIONS[interpolation],
                            borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
    return undistorted, pinhole


@functools.lru_cache(maxsize=8)
def _undistortion_maps(camera: PinholeCamera):
    """Return read-only (map_x, map_y): where each undistorted pixel lies in the recorded image.

    Cached per camera: a scene has one camera, and the maps cost far more
    than the remap that uses them.
    """
    maps = cv2.initUndistortRectifyMap(camera.K, camera.distortion, None, camera.K,
                                       (camera.width, camera.height), cv2.CV_32FC1)
    for map_ in maps:
        map_.setflags(write=False)
    return maps
