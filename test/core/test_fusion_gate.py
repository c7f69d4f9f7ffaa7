# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The fusion gate keeps faithful generated views and refuses noise."""

import numpy as np
import pytest

from anyrecon_ros.core.fusion_gate import ACCEPTED
from anyrecon_ros.core.fusion_gate import confirming_views
from anyrecon_ros.core.fusion_gate import gate_segment
from anyrecon_ros.core.fusion_gate import GateConfig
from anyrecon_ros.core.fusion_gate import masked_psnr
from anyrecon_ros.core.fusion_gate import RENDER_MISMATCH
from anyrecon_ros.core.fusion_gate import UNVERIFIABLE
from anyrecon_ros.core.geometry_memory import GeometryMemory
from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.transforms import look_at

CAMERA = default_camera().scaled(96, 72)


@pytest.fixture(scope='module')
def segment():
    """Ground truth along a short sideways move, and the renders of a half-seen memory."""
    scene = ProceduralScene(seed=1)
    path = scene.camera_path(8)
    start = path[0]
    poses = [look_at(start[:3, 3] + [0.0, 0.1 * i, 0.0],
                     start[:3, 3] + [0.0, 0.1 * i, 0.0] + start[:3, 2]) for i in range(5)]
    truths = [scene.capture_view(CAMERA, pose, index) for index, pose in enumerate(poses)]
    memory = GeometryMemory()
    for view in truths:
        # The memory saw the left half of each view only.
        depth = view.depth.copy()
        depth[:, CAMERA.width // 2:] = np.nan
        memory.insert(view.rgb, depth, CAMERA, view.camera_to_world)
    renders = [memory.render(CAMERA, pose) for pose in poses]
    return np.array(poses), truths, renders


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


def test_a_view_the_memory_barely_covers_cannot_be_checked(segment):
    poses, truths, renders = segment
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
