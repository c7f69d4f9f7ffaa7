# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The contact sheet of a loop run tells the views the map took in from those it refused."""

import cv2
import numpy as np

from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.image_grid import CELL_HEIGHT
from anyrecon_ros.core.image_grid import GAP
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.view_bank import GeneratedFrame
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop.outputs import write_loop_sheet

CAMERA = default_camera().scaled(64, 48)


def test_views_the_gate_refused_are_crossed_out_on_the_sheet(tmp_path):
    scene = ProceduralScene(seed=0)
    memory, bank = GeometryMemory(), ViewBank()
    poses = scene.camera_path(4)
    view = scene.capture_view(CAMERA, poses[0], 0)
    bank.add(view)
    memory.insert(view.rgb, view.depth, CAMERA, poses[0], view_id=0)
    grey = np.full((CAMERA.height, CAMERA.width, 3), 128, np.uint8)
    size = (CAMERA.height, CAMERA.width)
    depths = (np.ones(size, np.float32), None)   # the first fused, the second refused
    frames = [GeneratedFrame(segment_id=0, index=index, rgb=grey, mask=np.zeros(size, bool),
                             camera=CAMERA, camera_to_world=poses[index], reference_ids=(0,),
                             depth=depth)
              for index, depth in enumerate(depths)]
    path = write_loop_sheet(tmp_path / 'sheet.png', memory, bank, frames)
    sheet = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(int)
    row = sheet[2 * (CELL_HEIGHT + GAP):2 * (CELL_HEIGHT + GAP) + CELL_HEIGHT]
    width = round(CAMERA.width * CELL_HEIGHT / CAMERA.height)
    accepted, refused = row[:, :width], row[:, width + GAP:2 * width + GAP]
    red = (refused[..., 0] > 200) & (refused[..., 1] < 50) & (refused[..., 2] < 50)
    assert np.all(accepted == 128)          # shown as generated
    assert red.mean() > 0.05                # framed and crossed
    assert refused[..., 1].max() <= 64      # and dimmed (grey 128 -> 64)
