# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Plug-in interface for learned feed-forward point-map estimators (VGGT, pi^3 style).

Such a model takes a few images, optionally with their cameras, and returns
one 3D point per pixel of each image plus a confidence. No model ships with
this package: an implementation subclasses PointMapEstimator, registers
itself under a name, and is loaded from a local directory of weights.

Loading is deliberately strict. Weights are read only from a local
directory holding ``config.json`` and ``*.safetensors`` files. Pickle-based
checkpoints (``.bin``, ``.pt``, ``.pth``, ``.ckpt``, ``.pkl``) are never
opened, because unpickling runs arbitrary code from the file; hub ids and
URLs are refused, because nothing here ever touches the network.
"""

import abc
import json
import os
from pathlib import Path
import re
from typing import ClassVar, NamedTuple, Optional, Sequence

import numpy as np
import safetensors.numpy

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.safe_weights import refuse_pickle_file
from anyrecon_ros.core.safe_weights import refuse_pickle_only_folder
from anyrecon_ros.core.safe_weights import SAFETENSORS_SUFFIX

CONFIG_FILE = 'config.json'
# owner/name, as a model hub spells a repository id.
HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')
URL = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://')

FIRST_CAMERA = 'first_camera'
WORLD = 'world'

_REGISTRY = {}


class PointMap(NamedTuple):
    """Per-pixel 3D points of one view and how much to trust them."""

    points: np.ndarray       # (H, W, 3) float32, metres, in the estimator's points_frame
    confidence: np.ndarray   # (H, W) float32 in [0, 1]


class PointMapEstimator(abc.ABC):
    """A learned model that maps a few images to one point map per image.

    Subclasses implement ``_estimate`` and ``from_config_and_weights``, and
    set ``points_frame``: FIRST_CAMERA (points in the first view's camera
    frame, OpenCV axes) or WORLD (in the frame of the cameras' poses, which
    such an estimator needs).
    """

    points_frame: ClassVar[str] = FIRST_CAMERA

    def estimate(self, views: Sequence[np.ndarray],
                 cameras: Optional[Sequence[PinholeCamera]] = None) -> list:
        """Return one PointMap per view, in order; ``cameras`` may be None.

        Views are RGB uint8 (H, W, 3) arrays; sizes may differ between views.
        """
        views = list(views)
        if not views:
            raise ValueError('a point-map estimator needs at least one view')
        for index, view in enumerate(views):
            if view.ndim != 3 or view.shape[2] != 3 or view.dtype != np.uint8:
                raise ValueError(f'view {index} must be RGB uint8 (H, W, 3), got '
                                 f'{view.dtype} {view.shape}')
        if cameras is not None:
            cameras = list(cameras)
            if len(cameras) != len(views):
                raise ValueError(f'{len(cameras)} cameras for {len(views)} views')
        point_maps = list(self._estimate(views, cameras))
        _check_point_maps(point_maps, views, type(self).__name__)
        return point_maps

    @abc.abstractmethod
    def _estimate(self, views: list, cameras: Optional[list]) -> list:
        """Return one PointMap per view (inputs already checked)."""

    @classmethod
    @abc.abstractmethod
    def from_config_and_weights(cls, config: dict, weights: dict) -> 'PointMapEstimator':
        """Build the model from its parsed config.json and its tensors by name (numpy)."""

    @classmethod
    def from_pretrained(cls, path) -> 'PointMapEstimator':
        """Load from a local directory holding config.json and *.safetensors files.

        Refuses hub ids and URLs (no network, ever) and pickle checkpoints
        (loading them would run code from the file); pickle files beside
        safetensors ones are ignored, never opened.
        """
        config, weights = load_checkpoint_directory(path)
        return cls.from_config_and_weights(config, weights)


def load_checkpoint_directory(path):
    """Return (config dict, {tensor name: numpy array}) from a local checkpoint directory."""
    directory = _local_directory(path)
    config_path = directory / CONFIG_FILE
    shards = sorted(p for p in directory.iterdir()
                    if p.is_file() and p.name.endswith(SAFETENSORS_SUFFIX))
    if not shards:
        refuse_pickle_only_folder(directory)
        raise FileNotFoundError(f'{directory} holds no *{SAFETENSORS_SUFFIX} weights')
    if not config_path.is_file():
        raise FileNotFoundError(f'{directory} holds no {CONFIG_FILE}')
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f'{config_path} is not valid JSON: {error}') from None
    if not isinstance(config, dict):
        raise ValueError(f'{config_path} must hold a JSON object, got {type(config).__name__}')
    weights = {}
    for shard in shards:
        for name, tensor in safetensors.numpy.load_file(str(shard)).items():
            if name in weights:
                raise ValueError(f'tensor {name!r} appears in more than one shard of '
                                 f'{directory}')
            weights[name] = tensor
    return config, weights


def _local_directory(path) -> Path:
    """Return ``path`` as an existing local directory, or raise saying why it is not one."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f'a checkpoint path must be a str or path, got {type(path).__name__}')
    text = os.fspath(path)
    if URL.match(text):
        raise ValueError(f'{text!r} is a URL: weights are only read from a local directory, '
                         f'nothing is ever downloaded')
    directory = Path(text).expanduser()
    if not directory.exists():
        if HUB_ID.match(text):
            raise ValueError(f'{text!r} looks like a model hub id and is not a local '
                             f'directory: nothing is ever downloaded; download the weights '
                             f'yourself and pass their directory')
        raise FileNotFoundError(f'checkpoint directory {directory} does not exist')
    if directory.is_file():
        refuse_pickle_file(directory)
        raise ValueError(f'{directory} is a file; pass the directory that holds '
                         f'{CONFIG_FILE} and *{SAFETENSORS_SUFFIX} weights')
    return directory


def _check_point_maps(point_maps, views, estimator):
    if len(point_maps) != len(views):
        raise RuntimeError(f'{estimator} returned {len(point_maps)} point maps for '
                           f'{len(views)} views')
    for index, (point_map, view) in enumerate(zip(point_maps, views)):
        size = view.shape[:2]
        points, confidence = point_map
        if np.shape(points) != size + (3,) or np.shape(confidence) != size:
            raise RuntimeError(f'{estimator}: point map {index} has points '
                               f'{np.shape(points)} and confidence {np.shape(confidence)}, '
                               f'expected {size + (3,)} and {size}')


def register_point_map_estimator(name: str):
    """Return a class decorator that registers a PointMapEstimator under ``name``."""
    def register(cls):
        if not (isinstance(cls, type) and issubclass(cls, PointMapEstimator)):
            raise TypeError(f'{cls!r} is not a PointMapEstimator subclass')
        if cls.points_frame not in (FIRST_CAMERA, WORLD):
            raise ValueError(f'{cls.__name__}.points_frame must be {FIRST_CAMERA!r} or '
                             f'{WORLD!r}, got {cls.points_frame!r}')
        registered = _REGISTRY.get(name)
        if registered is not None and registered is not cls:
            raise ValueError(f'a point-map estimator named {name!r} is already registered '
                             f'({registered.__module__}.{registered.__qualname__})')
        _REGISTRY[name] = cls
        return cls
    return register


def unregister_point_map_estimator(name: str) -> None:
    """Remove a registered estimator; unknown names raise KeyError."""
    del _REGISTRY[name]


def point_map_estimators() -> list:
    """Return the registered estimator names, sorted."""
    return sorted(_REGISTRY)


def load_point_map_estimator(name: str, path) -> PointMapEstimator:
    """Load the estimator registered as ``name`` from the local checkpoint directory ``path``."""
    if name not in _REGISTRY:
        known = ', '.join(point_map_estimators()) or 'none'
        raise KeyError(f'no point-map estimator named {name!r} (registered: {known})')
    return _REGISTRY[name].from_pretrained(path)
