# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Generator checkpoints: diffusers pipeline folders (model_index.json), and the older layout."""

import json

import numpy as np
import pytest
import torch

from anyrecon_ros.model.pipelines.generator import checkpoint_settings
from anyrecon_ros.model.pipelines.generator import DEFAULT_CHECKPOINT
from anyrecon_ros.model.pipelines.generator import load_checkpoint
from anyrecon_ros.model.pipelines.generator import save_checkpoint
from anyrecon_ros.model.pipelines.generator import untrained_pipeline
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline


def generate(pipeline) -> np.ndarray:
    rng = np.random.default_rng(0)
    capture = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    renders = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    masks = rng.random((3, 32, 32)) > 0.3
    return pipeline(capture, renders, masks, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(0)).images


@pytest.fixture(scope='module')
def expected():
    return generate(untrained_pipeline(seed=5))


def test_save_pretrained_round_trip_generates_the_same_views(tmp_path, expected):
    untrained_pipeline(seed=5).save_pretrained(tmp_path, safe_serialization=True)
    index = json.loads((tmp_path / 'model_index.json').read_text())
    assert index['_class_name'] == 'AnyReconPipeline'
    assert index['transformer'] == ['anyrecon_ros.model.models.transformer',
                                    'AnyReconTransformer']
    assert not list(tmp_path.rglob('*.bin'))
    loaded = AnyReconPipeline.from_pretrained(tmp_path)
    assert np.array_equal(generate(loaded), expected)


def test_checkpoints_are_pipeline_folders_with_the_settings_beside(tmp_path, expected):
    save_checkpoint(untrained_pipeline(seed=5), tmp_path, working_width=64)
    assert {path.name for path in tmp_path.iterdir()} == {
        'model_index.json', 'transformer', 'vae', 'scheduler', 'anyrecon.json'}
    assert checkpoint_settings(tmp_path) == {'working_width': 64}
    assert np.array_equal(generate(load_checkpoint(tmp_path)), expected)


def test_folders_without_model_index_still_load(tmp_path, expected):
    # The layout written before model_index.json: each part saved on its own.
    pipeline = untrained_pipeline(seed=5)
    pipeline.transformer.save_pretrained(tmp_path / 'transformer', safe_serialization=True)
    pipeline.vae.save_pretrained(tmp_path / 'vae', safe_serialization=True)
    pipeline.scheduler.save_pretrained(tmp_path / 'scheduler')
    (tmp_path / 'anyrecon.json').write_text(json.dumps({'working_width': 64}))
    loaded = load_checkpoint(tmp_path)
    assert not loaded.transformer.training and not loaded.vae.training
    assert np.array_equal(generate(loaded), expected)
    assert checkpoint_settings(tmp_path) == {'working_width': 64}


def test_model_index_naming_other_libraries_is_refused(tmp_path):
    save_checkpoint(untrained_pipeline(), tmp_path)
    index = json.loads((tmp_path / 'model_index.json').read_text())
    index['vae'] = ['os', 'system']
    (tmp_path / 'model_index.json').write_text(json.dumps(index))
    with pytest.raises(ValueError, match='only diffusers and anyrecon_ros classes'):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match='model_index.json'):
        AnyReconPipeline.from_pretrained(tmp_path / 'vae')


def test_the_shipped_default_is_a_pipeline_folder():
    assert (DEFAULT_CHECKPOINT / 'model_index.json').is_file()
    pipeline = AnyReconPipeline.from_pretrained(DEFAULT_CHECKPOINT)
    assert type(pipeline.transformer).__name__ == 'AnyReconTransformer'
    assert checkpoint_settings(DEFAULT_CHECKPOINT)['working_width'] >= 16
    # The sampling the default's measurements chose (docs/training.md) is recorded with it.
    assert pipeline.config.condition_fill == 'background'
    assert (pipeline.config.start_step, pipeline.config.condition_blend) == (3, 0.7)
    assert pipeline.config.hole_blend == [1.0, 0.7, 0.0625]
