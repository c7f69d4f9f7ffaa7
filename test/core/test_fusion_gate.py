# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The fusion gate keeps faithful generated views and refuses noise."""

import dataclasses

import numpy as np
import pytest

from anyrecon_ros.core.fusion_gate import ACCEPTED
from anyrecon_ros.core.fusion_gate import confirming_views
from anyrecon_ros.core.fusion_gate import gate_segment
from anyrecon_ros.core.fusion_gate import GateConfig
from anyrecon_ros.core.fusion_gate import masked_psnr
from anyrecon_ros.core.fusion_gate import render_correlation
from anyrecon_ros.core.fusion_gate import RENDER_MISMATCH
from anyrecon_ros.core.fusion_gate import render_psnr
from anyrecon_ros.core.fusion_gate import RenderFidelity
from anyrecon_ros.core.fusion_gate import required_render_psnr
from anyrecon_ros.core.fusion_gate import thin_holes
from anyrecon_ros.core.fusion_gate import UNVERIFIABLE
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.mapping import Mapper
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.transforms import look_at
from anyrecon_ros.core.view_bank import ViewBank

CAMERA = default_camera().scaled(96, 72)


def _segment(unseen):
    """Ground truth along a short sideways move, and renders of a memory that missed ``unseen``."""
    scene = ProceduralScene(seed=1)
    path = scene.camera_path(8)
    start = path[0]
    poses = [look_at(start[:3, 3] + [0.0, 0.1 * i, 0.0],
                     start[:3, 3] + [0.0, 0.1 * i, 0.0] + start[:3, 2]) for i in range(5)]
    truths = [scene.capture_view(CAMERA, pose, index) for index, pose in enumerate(poses)]
    memory = GeometryMemory()
    for view in truths:
        depth = view.depth.copy()
        depth[unseen] = np.nan
        memory.insert(view.rgb, depth, CAMERA, view.camera_to_world)
    renders = [memory.render(CAMERA, pose) for pose in poses]
    return np.array(poses), truths, renders


@pytest.fixture(scope='module')
def segment():
    """Return a segment whose memory missed thin stripes of each view: holes it may fill."""
    unseen = np.zeros((CAMERA.height, CAMERA.width), bool)
    unseen[:, np.arange(CAMERA.width) % 16 < 3] = True
    return _segment(unseen)


@pytest.fixture(scope='module')
def half_seen():
    """Return a segment whose memory saw the left half of each view only: one wide hole."""
    unseen = np.zeros((CAMERA.height, CAMERA.width), bool)
    unseen[:, CAMERA.width // 2:] = True
    return _segment(unseen)


def test_a_faithful_view_is_fused_where_its_neighbours_agree(segment):
    poses, truths, renders = segment
    verdicts = gate_segment(CAMERA, poses, [view.rgb for view in truths],
                            [view.depth for view in truths], renders)
    assert all(verdict.verdict == ACCEPTED for verdict in verdicts)
    middle, render = verdicts[2], renders[2]
    assert middle.render_psnr > 24.0
    # Most of what the memory did not see is confirmed by a neighbour.
    assert middle.fused[~render.mask].mean() > 0.5
    # Every judge up to max_parallax may confirm: more than the nearest one alone does.
    nearest_only = gate_segment(CAMERA, poses, [view.rgb for view in truths],
                                [view.depth for view in truths], renders,
                                GateConfig(max_parallax=GateConfig().min_parallax))
    assert (sum(verdict.fused.sum() for verdict in verdicts)
            > sum(verdict.fused.sum() for verdict in nearest_only))


def test_a_wide_hole_is_never_filled_even_with_the_right_depth(half_seen):
    """The depth of a surface the memory never saw cannot be completed: none of it is fused."""
    poses, truths, renders = half_seen
    verdicts = gate_segment(CAMERA, poses, [view.rgb for view in truths],
                            [view.depth for view in truths], renders)
    assert all(verdict.accepted for verdict in verdicts)
    assert not any(verdict.fused[~render.mask].any()
                   for verdict, render in zip(verdicts, renders))
    # Allowed as wide as the image, the same views fill it where their neighbours agree.
    wide = gate_segment(CAMERA, poses, [view.rgb for view in truths],
                        [view.depth for view in truths], renders,
                        GateConfig(max_hole_half_width=1000.0))
    assert wide[2].fused[~renders[2].mask].mean() > 0.5


def test_thin_holes_are_told_from_wide_ones():
    covered = np.ones((20, 30), bool)
    covered[2:6, 2:5] = False      # 4 x 3: every pixel within 2 of a covered one
    covered[10:20, 15:30] = False  # 10 x 15 at the image corner: up to 10 px in
    thin = thin_holes(covered, 2.0)
    assert thin[2:6, 2:5].all() and not thin[10:20, 15:30].any()
    assert not thin[covered].any()
    assert not thin_holes(np.ones((4, 4), bool), 2.0).any()


def test_noise_is_rejected_and_its_depth_never_fused(segment):
    poses, truths, renders = segment
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, view.rgb.shape, np.uint8) for view in truths]
    verdicts = gate_segment(CAMERA, poses, noise, [view.depth for view in truths], renders)
    assert [verdict.verdict for verdict in verdicts] == [RENDER_MISMATCH] * len(truths)
    assert not any(verdict.fused.any() for verdict in verdicts)
    assert all(verdict.rejected_pixels == np.isfinite(view.depth).sum()
               for verdict, view in zip(verdicts, truths))


def test_texture_invented_where_the_memory_saw_nothing_is_not_fused(segment):
    # The seen half reproduced exactly, the unseen half redrawn per view.
    poses, truths, renders = segment
    rng = np.random.default_rng(1)
    invented = []
    for view, render in zip(truths, renders):
        image = view.rgb.copy()
        image[~render.mask] = rng.integers(0, 256, (int((~render.mask).sum()), 3), np.uint8)
        invented.append(image)
    verdicts = gate_segment(CAMERA, poses, invented, [view.depth for view in truths], renders)
    for verdict, render in zip(verdicts, renders):
        assert verdict.accepted
        assert verdict.fused[~render.mask].mean() < 0.1


def test_a_blend_does_not_hide_a_colour_cast_of_the_model(segment):
    """Blended 0.3 / 0.7 with the truth, a model's colour cast passes; its own output does not."""
    poses, truths, renders = segment
    cast = [np.clip(view.rgb.astype(int) + (10, -7, 8), 0, 255).astype(np.uint8)
            for view in truths]
    blended = [np.round(0.3 * model + 0.7 * view.rgb).astype(np.uint8)
               for model, view in zip(cast, truths)]
    depths = [view.depth for view in truths]
    assert all(verdict.accepted for verdict in gate_segment(CAMERA, poses, blended, depths,
                                                            renders))
    verdicts = gate_segment(CAMERA, poses, blended, depths, renders, model_images=cast)
    assert [verdict.verdict for verdict in verdicts] == [RENDER_MISMATCH] * len(truths)
    assert not any(verdict.fused.any() for verdict in verdicts)
    # A faithful model blended the same way is still accepted.
    faithful = gate_segment(CAMERA, poses, blended, depths, renders,
                            model_images=[view.rgb for view in truths])
    assert all(verdict.accepted for verdict in faithful)


def test_a_view_the_memory_barely_covers_cannot_be_checked(half_seen):
    poses, truths, renders = half_seen
    config = GateConfig(min_covered_share=0.99)
    verdicts = gate_segment(CAMERA, poses, [view.rgb for view in truths],
                            [view.depth for view in truths], renders, config)
    assert {verdict.verdict for verdict in verdicts} == {UNVERIFIABLE}


def test_new_pixels_are_confirmed_only_by_views_with_parallax():
    """Views 5 cm apart at 2 m: 5 degrees of parallax needs 17.5 cm, four steps away."""
    poses = np.stack([look_at([0.05 * i, 0.0, 1.0], [0.05 * i, 2.0, 1.0]) for i in range(12)])
    depth = np.full((4, 4), 2.0)
    assert confirming_views(poses, 5, depth, np.radians(5.0)) == [1, 9]
    assert confirming_views(poses, 10, depth, np.radians(5.0)) == [6]   # none beyond the end
    assert confirming_views(poses, 5, depth, 0.0) == [4, 6]   # no parallax asked: neighbours
    # A camera that only turns never has the baseline to check a depth.
    turning = np.stack([look_at([0.0, 0.0, 1.0], [np.sin(a), np.cos(a), 1.0])
                        for a in np.radians(np.arange(0, 60, 5))])
    assert confirming_views(turning, 5, depth, np.radians(5.0)) == []
    assert confirming_views(poses, 5, np.full((4, 4), np.nan), np.radians(5.0)) == []


def test_views_up_to_the_largest_parallax_confirm_too():
    """At 2 m, 5 to 10 degrees is 17.5 to 35.3 cm: four to seven steps of 5 cm on each side."""
    poses = np.stack([look_at([0.05 * i, 0.0, 1.0], [0.05 * i, 2.0, 1.0]) for i in range(20)])
    depth = np.full((4, 4), 2.0)
    assert confirming_views(poses, 10, depth, np.radians(5.0), np.radians(10.0)) == [
        6, 5, 4, 3, 14, 15, 16, 17]
    # Near the end of the segment only what is there.
    assert confirming_views(poses, 17, depth, np.radians(5.0), np.radians(10.0)) == [
        13, 12, 11, 10]
    # The nearest view past the least parallax confirms even beyond the largest.
    sparse = poses[::8]   # 40 cm apart
    assert confirming_views(sparse, 1, depth, np.radians(5.0), np.radians(10.0)) == [0, 2]


def test_the_largest_parallax_is_at_least_the_least():
    with pytest.raises(ValueError, match='max_parallax'):
        GateConfig(min_parallax=np.radians(10.0), max_parallax=np.radians(5.0))


def test_correlation_with_the_render_ignores_brightness_not_noise(segment):
    _, truths, renders = segment
    render = renders[2]
    brighter = np.clip(render.rgb.astype(int) * 0.8 + 30, 0, 255).astype(np.uint8)
    noise = np.random.default_rng(2).integers(0, 256, render.rgb.shape, np.uint8)
    assert render_correlation(render.rgb, render) == pytest.approx(1.0)
    assert render_correlation(brighter, render) > 0.99
    assert render_correlation(truths[2].rgb, render) > 0.9
    assert abs(render_correlation(noise, render)) < 0.2
    assert render_correlation(np.full_like(render.rgb, 128), render) == 0.0


def test_the_render_check_follows_the_keyframes_where_they_miss_the_render():
    config = GateConfig()
    assert required_render_psnr(config, None) == config.min_render_psnr
    assert required_render_psnr(config, 40.0) == config.min_render_psnr
    assert required_render_psnr(config, 20.0) == 20.0 - config.render_psnr_margin


def test_keyframes_measure_how_faithful_the_memory_renders_are(segment):
    """Exact keyframes reproduce the render; keyframes a pose off (real errors) do not."""
    poses, truths, _ = segment
    exact, shifted = RenderFidelity(), RenderFidelity()
    memory = GeometryMemory()
    memory.insert(truths[0].rgb, truths[0].depth, CAMERA, truths[0].camera_to_world)
    assert RenderFidelity().measure(GeometryMemory(), truths[1]) is None   # nothing to render
    for index in (1, 2, 3, 4):
        exact.measure(memory, truths[index])
        # The image of the previous pose, posed here: 10 cm off.
        shifted.measure(memory, replace_rgb(truths[index], truths[index - 1].rgb))
    assert exact.value() > GateConfig().min_render_psnr
    assert shifted.value() < exact.value() - 5.0
    assert len(exact.samples) == 4


def test_the_mapper_measures_each_keyframe_before_fusing_it(segment):
    _, truths, _ = segment
    memory, bank = GeometryMemory(), ViewBank()
    mapper = Mapper(memory, bank)
    mapper.add_keyframe(truths[0])
    assert mapper.render_fidelity.value() is None   # the first keyframe had no memory to meet
    for view in truths[1:]:
        mapper.add_keyframe(view)
    assert len(mapper.render_fidelity.samples) == len(truths) - 1
    assert mapper.render_fidelity.value() > GateConfig().min_render_psnr


def test_a_lowered_render_bar_still_refuses_noise(segment):
    """With keyframes as far from the render as a real scene's, noise still fails (correlation)."""
    poses, truths, renders = segment
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 256, view.rgb.shape, np.uint8) for view in truths]
    depths = [view.depth for view in truths]
    lowest = min(render_psnr(image, render) for image, render in zip(noise, renders))
    fidelity = lowest   # the bar drops below every noise view's PSNR
    verdicts = gate_segment(CAMERA, poses, noise, depths, renders, render_fidelity=fidelity)
    assert [verdict.verdict for verdict in verdicts] == [RENDER_MISMATCH] * len(truths)
    assert all(verdict.render_correlation < 0.2 for verdict in verdicts)
    # The faithful views pass under the same bar.
    faithful = gate_segment(CAMERA, poses, [view.rgb for view in truths], depths, renders,
                            render_fidelity=fidelity)
    assert all(verdict.accepted for verdict in faithful)


def replace_rgb(view, rgb):
    """Return ``view`` with another image."""
    return dataclasses.replace(view, rgb=rgb)


def test_masked_psnr():
    image = np.zeros((2, 2, 3), np.uint8)
    other = image.copy()
    other[0, 0] = 255
    mask = np.zeros((2, 2), bool)
    assert np.isnan(masked_psnr(image, other, mask))
    mask[1, 1] = True
    assert masked_psnr(image, other, mask) == float('inf')
    mask[0, 0] = True
    assert masked_psnr(image, other, mask) == pytest.approx(10 * np.log10(2 * 3 / 3))
