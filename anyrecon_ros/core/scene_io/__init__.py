# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Posed image scenes from disk: posed folders, COLMAP models, transforms.json.

``open_scene(path)`` recognises the format; each reader returns a ``Scene``
whose views are undistorted pinhole RGB(-D) with camera-to-world poses in
OpenCV camera axes.
"""

from pathlib import Path

from anyrecon_ros.core.scene_io.colmap import find_colmap_model, read_colmap_model
from anyrecon_ros.core.scene_io.posed_folder import read_posed_scene, SCENE_FILE
from anyrecon_ros.core.scene_io.posed_folder import write_posed_scene
from anyrecon_ros.core.scene_io.scene import (CAPTURED, GENERATED, Scene, SceneFormatError,
                                              SceneFrame, SparsePoints)
from anyrecon_ros.core.scene_io.transforms_json import (read_transforms_json, TRANSFORMS_FILE,
                                                        write_transforms_json)

__all__ = ['CAPTURED', 'GENERATED', 'open_scene', 'read_colmap_model', 'read_posed_scene',
           'read_transforms_json', 'Scene', 'SceneFormatError', 'SceneFrame', 'SparsePoints',
           'write_posed_scene', 'write_transforms_json']

ACCEPTED_FORMATS = ('a posed-scene folder (scene.json)',
                    'a COLMAP model folder (cameras.bin/.txt, or a project with sparse/0)',
                    'a transforms.json, or a folder holding one')


def open_scene(spec) -> Scene:
    """Open the scene at ``spec`` (a path), whichever of the accepted formats it is in."""
    path = Path(spec)
    if path.is_file() and path.suffix == '.json':
        if path.name == SCENE_FILE:
            return read_posed_scene(path.parent)
        return read_transforms_json(path)
    if path.is_dir():
        if (path / SCENE_FILE).is_file():
            return read_posed_scene(path)
        if (path / TRANSFORMS_FILE).is_file():
            return read_transforms_json(path)
        if find_colmap_model(path) is not None:
            return read_colmap_model(path)
    problem = 'no such file or folder' if not path.exists() else 'not a scene'
    raise SceneFormatError(f'{path}: {problem}; accepted: {"; ".join(ACCEPTED_FORMATS)}')
