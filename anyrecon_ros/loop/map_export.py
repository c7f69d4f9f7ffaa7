# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What a saved map file holds, exported: the memory as PLY, the views as a nerfstudio folder.

``anyrecon map export`` and the demo both write their outputs from the map
file through these functions, so a run's outputs are exactly what its map
holds.
"""

from dataclasses import dataclass
from pathlib import Path

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.map_store import MapStore
from anyrecon_ros.core.scene_io import write_transforms_json
from anyrecon_ros.core.view_bank import ViewBank


@dataclass
class MapContents:
    """Everything a map file holds, decoded."""

    memory: GeometryMemory
    bank: ViewBank      # the captured keyframes
    generated: list     # GeneratedFrame, in the order they were stored


def read_map(store: MapStore) -> MapContents:
    """Decode the memory, keyframes and generated views; ValueError when it holds no memory."""
    memory = store.load_memory()
    if memory is None:
        raise ValueError(f'{store.path} holds no memory to export')
    bank = ViewBank()
    for view in store.keyframes():
        bank.add(view)
    return MapContents(memory, bank, list(store.generated()))


def export_ply(store: MapStore, path) -> GeometryMemory:
    """Write the stored memory as a PLY point cloud; return it (ValueError when none)."""
    memory = store.load_memory()
    if memory is None:
        raise ValueError(f'{store.path} holds no memory to export')
    memory.export_ply(Path(path))
    return memory


def export_transforms(store: MapStore, folder) -> tuple:
    """Write keyframes and generated views as a nerfstudio folder; return their counts."""
    keyframes, generated = list(store.keyframes()), list(store.generated())
    if not keyframes:
        raise ValueError(f'{store.path} holds no keyframes to export')
    write_transforms_json(folder, keyframes[0].camera, keyframes, generated)
    return len(keyframes), len(generated)
