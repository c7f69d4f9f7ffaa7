# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What a saved map file holds, exported: the memory as PLY, the views as nerfstudio or COLMAP.

``anyrecon map export`` and the demo both write their outputs from the map
file through these functions, so a run's outputs are exactly what its map
holds. A map of a scene in its own units (an offline run on an RGB-only
scene) is stored in nominal metres and records its ``units``; every export
scales poses, points and depth back to the scene's units, so an export lines
up with the scene it came from.

One export holds one camera where it can: generated views made at the
generator's width of a keyframe camera are resized back to that camera (a
COLMAP reader with one shared camera, and transforms.json, need that).
"""

from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.scene_io import write_transforms_json
from anyrecon_ros.core.scene_io.colmap import write_colmap_text
from anyrecon_ros.core.scene_io.transforms_json import DEPTH_METRES_PER_UNIT
from anyrecon_ros.core.scene_io.units import METRIC_UNITS
from anyrecon_ros.core.scene_io.units import SceneUnits
from anyrecon_ros.core.view_bank import ViewBank

# Map metadata: the SceneUnits of the map's lengths (absent: metric).
UNITS_KEY = 'units'
# Intrinsics closer than this (pixels) are one camera.
CAMERA_TOLERANCE = 1e-4


@dataclass
class MapContents:
    """Everything a map file holds, decoded."""

    memory: GeometryMemory
    bank: ViewBank      # the captured keyframes
    generated: list     # GeneratedFrame, in the order they were stored


@dataclass
class ColmapExport:
    """What :func:`export_colmap` wrote."""

    keyframes: int
    generated: int
    points: int
    cameras: int
    model: Path         # the sparse/0 folder


def read_map(store: MapStore) -> MapContents:
    """Decode the memory, keyframes and generated views; ValueError when it holds no memory."""
    memory = store.load_memory()
    if memory is None:
        raise ValueError(f'{store.path} holds no memory to export')
    bank = ViewBank()
    for view in store.keyframes():
        bank.add(view)
    return MapContents(memory, bank, list(store.generated()))


def map_units(store: MapStore) -> SceneUnits:
    """Return the units the map's lengths are in (metric unless the map records others)."""
    text = store.meta(UNITS_KEY)
    return METRIC_UNITS if text is None else SceneUnits.from_json(text)


def export_ply(store: MapStore, path) -> GeometryMemory:
    """Write the stored memory as a PLY point cloud, in the scene's units; return it."""
    memory = store.load_memory()
    if memory is None:
        raise ValueError(f'{store.path} holds no memory to export')
    scale = map_units(store).scale
    if scale != 1.0:
        state = memory.state_dict()
        state['positions'] = state['positions'] * np.float32(scale)
        # The voxel size is not used by the export; the config stays as stored.
        memory = GeometryMemory.from_state_dict(state)
    memory.export_ply(Path(path))
    return memory


def export_transforms(store: MapStore, folder) -> tuple:
    """Write keyframes and generated views as a nerfstudio folder; return their counts."""
    keyframes, generated = list(store.keyframes()), list(store.generated())
    if not keyframes:
        raise ValueError(f'{store.path} holds no keyframes to export')
    scale = map_units(store).scale
    camera = keyframes[0].camera
    views = [_in_scene_units(_at_camera(view, camera, 'keyframe'), scale) for view in keyframes]
    generated_views = [_in_scene_units(_at_camera(frame, camera, 'generated view'), scale)
                       for frame in generated]
    write_transforms_json(folder, camera, views, generated_views,
                          depth_unit=DEPTH_METRES_PER_UNIT * scale)
    return len(keyframes), len(generated)


def export_colmap(store: MapStore, folder, max_points: int = 0) -> ColmapExport:
    """Write a COLMAP text model of the map: its views, their images, the memory's points.

    ``folder/images/`` holds every keyframe (``keyframe_<id>.png``) and every
    generated view the map stored (the accepted ones, ``generated_<n>.png``),
    ``folder/sparse/0`` their cameras and poses and the memory as points3D
    (at most ``max_points``, spread out, when it is not 0), all in the
    scene's units: what Gaussian-splatting and NeRF tools read.
    """
    memory = store.load_memory()
    if memory is None:
        raise ValueError(f'{store.path} holds no memory to export')
    keyframes = list(store.keyframes())
    if not keyframes:
        raise ValueError(f'{store.path} holds no keyframes to export')
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    scale = map_units(store).scale
    camera = keyframes[0].camera
    images, generated = [], 0
    for view in keyframes:
        images.append(_write_image(folder, f'keyframe_{view.view_id:06d}.png',
                                   _at_camera(view, camera), scale))
    for index, frame in enumerate(store.generated()):
        images.append(_write_image(folder, f'generated_{index:06d}.png',
                                   _at_camera(frame, camera), scale))
        generated += 1
    if max_points and len(memory) > max_points:
        positions, colours = memory.decimated(max_points)
    else:
        positions, colours = memory.positions, memory.colours_uint8()
    model = write_colmap_text(folder, images, positions.astype(np.float64) * scale, colours)
    return ColmapExport(len(keyframes), generated, len(positions),
                        len({image_camera for _, image_camera, _ in images}), model)


def _write_image(folder: Path, name: str, view, scale: float) -> tuple:
    bgr = np.ascontiguousarray(view.rgb[:, :, ::-1])
    if not cv2.imwrite(str(folder / 'images' / name), bgr):
        raise OSError(f'cannot write {folder / "images" / name}')
    return name, view.camera, _scaled_pose(view.camera_to_world, scale)


def _at_camera(view, camera, kind: str = ''):
    """Return ``view`` resized to ``camera`` when its own camera is that camera at another size.

    A view of another camera comes back unchanged, unless ``kind`` names it:
    then it is refused (an export with one camera).
    """
    own = view.camera
    if own == camera:
        return view
    back = own.scaled(camera.width, camera.height)
    same = np.allclose([back.fx, back.fy, back.cx, back.cy],
                       [camera.fx, camera.fy, camera.cx, camera.cy], rtol=0,
                       atol=CAMERA_TOLERANCE) and not own.has_distortion
    if not same:
        if kind:
            raise ValueError(f'a {kind} was taken with another camera ({own.width}x'
                             f'{own.height}, fx {own.fx:g}) than the first keyframe '
                             f'({camera.width}x{camera.height}, fx {camera.fx:g}); this '
                             'export holds one camera (use --colmap)')
        return view
    size = (camera.width, camera.height)
    grow = camera.width > own.width
    rgb = cv2.resize(view.rgb, size, interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
    fields = {'rgb': rgb, 'camera': camera}
    if getattr(view, 'depth', None) is not None:
        fields['depth'] = cv2.resize(view.depth, size, interpolation=cv2.INTER_NEAREST)
    if getattr(view, 'mask', None) is not None:
        fields['mask'] = cv2.resize(view.mask.astype(np.uint8), size,
                                    interpolation=cv2.INTER_NEAREST) > 0
    return replace(view, **fields)


def _in_scene_units(view, scale: float):
    if scale == 1.0:
        return view
    depth = getattr(view, 'depth', None)
    return replace(view, camera_to_world=_scaled_pose(view.camera_to_world, scale),
                   depth=None if depth is None else depth * np.float32(scale))


def _scaled_pose(pose, scale: float) -> np.ndarray:
    pose = np.array(pose, np.float64)
    pose[:3, 3] *= scale
    return pose
