# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The closed loop without ROS, and loading the generator it runs."""

import json
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest

from anyrecon_ros.core.fusion_gate import GateConfig
from anyrecon_ros.core.geometry_memory import CAPTURED
from anyrecon_ros.core.geometry_memory import GENERATED
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.geometry_memory import MemoryConfig
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.core.view_bank import ViewBank
from anyrecon_ros.loop.reconstruction import LoopConfig
from anyrecon_ros.loop.reconstruction import ReconstructionLoop
from anyrecon_ros.loop.reconstruction import trajectory_coverage
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import load_checkpoint
from anyrecon_ros.model.pipelines.generator import save_checkpoint
from anyrecon_ros.model.pipelines.generator import untrained_pipeline
from anyrecon_ros.model.pipelines.generator import ViewGenerator

CAMERA = default_camera().scaled(160, 120)


class RecordingGenerator:
    """A generator, remembering what each segment was conditioned on.

    By default the classical fill (``checkpoint: inpaint``): faithful views the
    fusion gate accepts; ``untrained``: the random tiny model's noise.
    """

    def __init__(self, checkpoint='inpaint'):
        self.inner = ViewGenerator.load(GeneratorSettings(checkpoint=checkpoint))
        self.size_multiple = self.inner.size_multiple
        self.working_width = self.inner.working_width
        self.calls = []

    def generate(self, capture_images, renders, masks, progress=None, render_depths=None):
        self.calls.append({'captures': len(capture_images), 'masks': masks.copy(),
                           'depths': render_depths})
        return self.inner.generate(capture_images, renders, masks, progress, render_depths)


@pytest.fixture(scope='module')
def scene():
    return ProceduralScene(seed=0)


def _memory_and_bank(scene, views=4):
    memory, bank = GeometryMemory(MemoryConfig(voxel_size=0.04)), ViewBank()
    for view_id, pose in enumerate(scene.camera_path(views)):
        view = scene.capture_view(CAMERA, pose, view_id)
        bank.add(view)
        memory.insert(view.rgb, view.depth, CAMERA, pose, view_id=view_id)
    return memory, bank


def _turn_in_place(start_pose, frames, degrees=150.0, step=0.0):
    """Poses turning about the vertical axis from ``start_pose``: into unseen space.

    ``step`` > 0 also moves each pose that many metres to the start pose's
    right: the baseline the fusion gate needs to confirm new pixels (a camera
    that only turns cannot check a depth).
    """
    poses = []
    for frame, angle in enumerate(np.radians(np.linspace(0.0, degrees, frames))):
        centre = start_pose[:3, 3] + frame * step * start_pose[:3, 0]
        forward = start_pose[:3, 2]
        rotated = np.array([forward[0] * np.cos(angle) - forward[1] * np.sin(angle),
                            forward[0] * np.sin(angle) + forward[1] * np.cos(angle), forward[2]])
        poses.append(look_at(centre, centre + rotated))
    return np.array(poses)


def test_loop_fills_the_memory_segment_by_segment(scene):
    memory, bank = _memory_and_bank(scene)
    captured_before = memory.count(CAPTURED)
    poses = _turn_in_place(bank[3].camera_to_world, 13, degrees=90.0, step=0.1)
    coverage_before = trajectory_coverage(memory, CAMERA, poses)
    generator = RecordingGenerator()
    # Turning opens holes wider than the default gate fills (max_hole_half_width):
    # it is opened to them here to see each segment fill what the next renders.
    loop = ReconstructionLoop(memory, bank, generator,
                              LoopConfig(segment_length=5, segment_overlap=1,
                                         capture_views=2, generation_width=64),
                              GateConfig(max_hole_half_width=1000.0))
    updates, published = [], []
    frames = loop.run(CAMERA, poses, progress=updates.append, on_frame=published.append)

    # One view per pose, in order, the overlap frames generated once.
    assert [frame.index for frame in frames] == list(range(13))
    assert published == frames
    assert [frame.segment_id for frame in frames] == [0] * 5 + [1] * 4 + [2] * 4
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].camera.width == 64
    assert all(set(frame.reference_ids) <= set(range(4)) and frame.reference_ids
               for frame in frames)
    assert all(call['captures'] <= 2 for call in generator.calls)
    # Each render's depth goes with it (the 'background' condition fill reads
    # it): finite exactly where the memory saw the pixel.
    for call in generator.calls:
        assert call['depths'].shape == call['masks'].shape
        assert np.array_equal(np.isfinite(call['depths']), call['masks'])
    # Generated geometry is fused as such, captured geometry stays.
    assert memory.count(GENERATED) > 0 and memory.count(CAPTURED) >= captured_before
    assert trajectory_coverage(memory, CAMERA, poses) > coverage_before
    # Closed loop: each later segment was conditioned on renders that the
    # earlier segments filled (its first view is the previous segment's last).
    for previous, later in zip(generator.calls, generator.calls[1:]):
        assert later['masks'][0].mean() > previous['masks'][-1].mean()

    stages = [update.stage for update in updates]
    assert stages[-1] == 'done' and updates[-1].generated_views == 13
    assert updates[-1].rejected_views == loop.gate_counts.get('views_render_mismatch', 0) == 0
    assert {update.segments for update in updates} == {3}
    assert loop.gate_counts['new_pixels_fused'] > 0


def test_noise_is_generated_and_reported_but_never_fused(scene):
    memory, bank = _memory_and_bank(scene)
    before = memory.state_dict()
    poses = _turn_in_place(bank[3].camera_to_world, 9)
    loop = ReconstructionLoop(memory, bank, RecordingGenerator('untrained'),
                              LoopConfig(segment_length=5, segment_overlap=1,
                                         capture_views=2, generation_width=64))
    updates = []
    frames = loop.run(CAMERA, poses, progress=updates.append)
    assert len(frames) == 9 and all(frame.depth is None for frame in frames)
    assert updates[-1].rejected_views == 9 and loop.gate_counts['pixels_accepted'] == 0
    after = memory.state_dict()
    assert all(np.array_equal(before[name], after[name]) for name in ('positions', 'colours'))
    # The untrained model still runs the 4-step schedule per segment.
    steps = [update.step for update in updates if update.stage == 'generate' and update.steps]
    assert steps == [1, 2, 3, 4] * 2


class BlendingGenerator(RecordingGenerator):
    """Telea's views as the blended output, over a model's own output of ``model``."""

    def __init__(self, model):
        super().__init__('inpaint')
        self.model = model

    def generate_views(self, capture_images, renders, masks, progress=None,
                       render_depths=None):
        images = self.generate(capture_images, renders, masks, progress, render_depths)
        model = (images if self.model == 'faithful' else
                 np.random.default_rng(0).integers(0, 256, images.shape, np.uint8))
        return SimpleNamespace(images=images, model_images=model)


@pytest.mark.parametrize('model', ['faithful', 'noise'])
def test_the_gate_checks_the_models_own_output_not_its_blend(scene, model):
    memory, bank = _memory_and_bank(scene)
    poses = _turn_in_place(bank[3].camera_to_world, 5, degrees=40.0)
    loop = ReconstructionLoop(memory, bank, BlendingGenerator(model),
                              LoopConfig(segment_length=5, capture_views=2,
                                         generation_width=64))
    frames = loop.run(CAMERA, poses)
    # The same blended views either way: only the model under them differs.
    rejected = [frame.depth is None for frame in frames]
    assert rejected == [model == 'noise'] * 5
    assert loop.gate_counts['views_render_mismatch'] == (5 if model == 'noise' else 0)


class CastGenerator(RecordingGenerator):
    """Telea's views with a colour cast: 22 dB from their renders, as a real scene's views are."""

    def generate(self, capture_images, renders, masks, progress=None, render_depths=None):
        images = super().generate(capture_images, renders, masks, progress, render_depths)
        return np.clip(images.astype(int) + (20, -20, 20), 0, 255).astype(np.uint8)


@pytest.mark.parametrize('generator, fidelity, accepted', [
    ('cast', None, False),      # keyframes not measured: the fixed 28 dB bar
    ('cast', 35.0, False),      # keyframes match their renders well: the same bar
    ('cast', 20.0, True),       # a real scene: keyframes at 20 dB, the bar at 17
    ('untrained', 20.0, False),  # noise fails the correlation under the lowered bar
])
def test_the_render_check_follows_how_well_keyframes_match_the_memory(scene, generator, fidelity,
                                                                      accepted):
    memory, bank = _memory_and_bank(scene)
    poses = _turn_in_place(bank[3].camera_to_world, 5, degrees=40.0)
    chosen = CastGenerator() if generator == 'cast' else RecordingGenerator(generator)
    loop = ReconstructionLoop(memory, bank, chosen, LoopConfig(segment_length=5, capture_views=2,
                                                               generation_width=64),
                              render_fidelity=fidelity)
    assert loop.required_render_psnr == (17.0 if fidelity == 20.0 else 28.0)
    frames = loop.run(CAMERA, poses)
    assert [frame.depth is not None for frame in frames] == [accepted] * 5
    assert loop.gate_counts['views_render_mismatch'] == (0 if accepted else 5)


def test_segments_without_memory_in_view_use_the_nearest_captures(scene):
    memory, bank = _memory_and_bank(scene, views=3)
    loop = ReconstructionLoop(memory, bank, RecordingGenerator(),
                              LoopConfig(capture_views=2, generation_width=64))
    # Far outside the scene, looking away from it: nothing to retrieve.
    outside = look_at(np.array([40.0, 40.0, 1.5]), np.array([80.0, 80.0, 1.5]))
    nearest = sorted(bank.views(), key=lambda view: np.linalg.norm(view.centre
                                                                   - outside[:3, 3]))
    assert loop.references(CAMERA, [outside]) == [view.view_id for view in nearest[:2]]


def test_loop_rejects_bad_input_and_keeps_the_memory(scene):
    memory, bank = _memory_and_bank(scene, views=2)
    points = memory.positions.copy()
    loop = ReconstructionLoop(memory, bank, RecordingGenerator(), LoopConfig(generation_width=64))
    with pytest.raises(ValueError, match='poses'):
        loop.run(CAMERA, np.eye(3))
    bad_rotation = np.eye(4)
    bad_rotation[0, 0] = 2.0
    with pytest.raises(ValueError):
        loop.run(CAMERA, [bad_rotation])
    with pytest.raises(ValueError, match='capture view'):
        ReconstructionLoop(memory, ViewBank(), RecordingGenerator()).run(CAMERA, [np.eye(4)])
    with pytest.raises(ValueError, match='segment_length'):
        LoopConfig(segment_length=1)
    assert np.array_equal(memory.positions, points)


def test_generation_camera_keeps_the_aspect_on_the_model_grid():
    loop = ReconstructionLoop(GeometryMemory(), ViewBank(), RecordingGenerator(),
                              LoopConfig(generation_width=250))
    camera = loop.generation_camera(default_camera())
    assert (camera.width, camera.height) == (240, 176)
    assert camera.width % 16 == 0 and camera.height % 16 == 0


def test_checkpoint_round_trip_generates_the_same_views(tmp_path):
    save_checkpoint(untrained_pipeline(seed=3), tmp_path / 'checkpoint', working_width=128)
    assert {path.name for path in (tmp_path / 'checkpoint').iterdir()} == {
        'model_index.json', 'transformer', 'vae', 'scheduler', 'anyrecon.json'}
    assert list((tmp_path / 'checkpoint').rglob('*.safetensors'))
    rng = np.random.default_rng(0)
    capture = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    renders = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    masks = np.ones((3, 32, 32), bool)
    settings = GeneratorSettings(seed=3)
    untrained = ViewGenerator(untrained_pipeline(seed=3), settings, trained=False)
    loaded = ViewGenerator.load(GeneratorSettings(checkpoint=str(tmp_path / 'checkpoint'),
                                                  seed=3))
    assert loaded.trained and not untrained.trained
    # The loop generates at the checkpoint's working width unless told otherwise.
    assert loaded.working_width == 128 and untrained.working_width == 256
    camera = ReconstructionLoop(GeometryMemory(), ViewBank(), loaded).generation_camera(
        default_camera())
    assert (camera.width, camera.height) == (128, 96)
    expected = untrained.generate(capture, renders, masks)
    assert np.array_equal(loaded.generate(capture, renders, masks), expected)
    # Deterministic for a seed; another seed draws other noise.
    assert np.array_equal(untrained.generate(capture, renders, masks), expected)
    other = ViewGenerator(untrained_pipeline(seed=3), GeneratorSettings(seed=4), trained=False)
    assert not np.array_equal(other.generate(capture, renders, masks), expected)


def test_incomplete_checkpoints_and_bad_settings_are_refused(tmp_path):
    save_checkpoint(untrained_pipeline(), tmp_path)
    (tmp_path / 'vae' / 'config.json').unlink()
    with pytest.raises(FileNotFoundError, match='vae/config.json'):
        load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match='not one of'):
        ViewGenerator.load(GeneratorSettings(backend='caffe'))
    with pytest.raises(ValueError, match='steps'):
        ViewGenerator.load(GeneratorSettings(steps=0))
    # The scheduler config is plain JSON: nothing executable is ever loaded.
    json.loads((tmp_path / 'scheduler' / 'scheduler_config.json').read_text())


def test_pickle_checkpoints_are_refused_saying_why(tmp_path):
    save_checkpoint(untrained_pipeline(), tmp_path)
    weights = tmp_path / 'transformer' / 'diffusion_pytorch_model.safetensors'
    # A pickle that would run code if it were ever unpickled.
    weights.with_suffix('.bin').write_bytes(b'cos\nsystem\n(S"touch pwned"\ntR.')
    weights.unlink()
    with pytest.raises(ValueError, match='only pickle checkpoints .*arbitrary code'):
        ViewGenerator.load(GeneratorSettings(checkpoint=str(tmp_path)))
    assert not (tmp_path / 'pwned').exists() and not pathlib.Path('pwned').exists()


def test_onnxruntime_backend_generates_what_torch_generates():
    rng = np.random.default_rng(1)
    capture = rng.integers(0, 256, (2, 32, 48, 3), dtype=np.uint8)
    renders = rng.integers(0, 256, (20, 32, 48, 3), dtype=np.uint8)
    masks = rng.random((20, 32, 48)) > 0.3
    # 22 frames are three attention blocks: the exported graph keeps the context window.
    untrained = GeneratorSettings(checkpoint='untrained', backend='torch')
    torch_views = ViewGenerator.load(untrained).generate(capture, renders, masks)
    onnx = ViewGenerator.load(GeneratorSettings(checkpoint='untrained', backend='onnxruntime'))
    onnx_views = onnx.generate(capture, renders, masks)
    difference = np.abs(onnx_views.astype(int) - torch_views.astype(int))
    # The denoiser matches to 1e-4 (test_model_export); after 4 steps and the
    # VAE a few pixels may round to the neighbouring 8-bit value.
    assert difference.max() <= 1 and difference.mean() < 0.01
    assert list(onnx.pipeline.transformer.folder.glob('denoiser_4x6.onnx'))


def test_tensorrt_backend_says_what_is_missing():
    with pytest.raises(ValueError, match='tensorrt'):
        ViewGenerator.load(GeneratorSettings(backend='tensorrt'))
