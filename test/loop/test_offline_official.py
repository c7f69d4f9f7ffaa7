# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon offline --checkpoint FOLDER`` on a tiny checkpoint prepared from official files.

The folder is what a GPU user has after ``anyrecon convert-lora`` and
``anyrecon prepare-official`` (``tiny_official.prepare_official``), at a few
thousand random weights: the loop runs end to end through the I2V pipeline
(CLIP image features, stored empty prompt, official sampling settings).
"""

import json

import cv2
import pytest
from tiny_official import prepare_official

from anyrecon_ros.cli.main import main
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.scene_io import write_transforms_json
from anyrecon_ros.model.pipelines.generator import ViewGenerator

CAMERA = default_camera().scaled(160, 120)
FRAMES = 4


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    return prepare_official(tmp_path_factory.mktemp('official'))


def test_offline_runs_on_a_prepared_official_checkpoint(tmp_path, official, monkeypatch):
    scene = ProceduralScene(seed=0)
    write_transforms_json(tmp_path / 'scene', CAMERA,
                          [scene.capture_view(CAMERA, pose, index)
                           for index, pose in enumerate(scene.camera_path(FRAMES))])
    loaded = []
    load = ViewGenerator.load.__func__
    monkeypatch.setattr(ViewGenerator, 'load', classmethod(
        lambda cls, settings: loaded.append(load(cls, settings)) or loaded[-1]))
    out = tmp_path / 'out'
    assert main(['offline', '--scene', str(tmp_path / 'scene'), '--out', str(out),
                 '--views', '1', '--max-frames', str(FRAMES),
                 '--checkpoint', str(official / 'checkpoint')]) == 0
    # The official-weights pipeline ran: image branch, full attention, official settings.
    (generator,) = loaded
    pipeline = generator.pipeline
    assert generator.trained and pipeline.image_dim == 16 and pipeline.image_encoder is not None
    assert not pipeline.transformer.config.sparse_attention
    assert pipeline.config.chunk_seed == 'reseed' and pipeline.config.carry == 'pixels'
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['generated_views'] == summary['trajectory_views'] > 0
    images = sorted((out / 'generated').glob('*.png'))
    assert len(images) == summary['generated_views']
    # At the checkpoint's working width (32), on the model's 16-pixel grid.
    assert cv2.imread(str(images[0])).shape == (32, 32, 3)
