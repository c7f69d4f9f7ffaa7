# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` generator section: a tiny generator, sparse vs full, 4 vs 50 steps.

The 4-step sparse sampler (the distilled model, no guidance, as the official
AnyRecon code runs it) is compared at ``speedup_frames`` with two 50-step
full-attention baselines: one denoiser pass per step, and the teacher as Wan
samples it, classifier-free guidance 5.0 (Wan2.1-I2V's default; two passes
per step), the baseline of the paper's "up to 20x".
"""

import statistics
import time

import numpy as np

from anyrecon_ros.bench.timing import median_ms

GENERATOR_FRAMES = (8, 16, 40, 64)
# Tiny generator at 128 px: 8x8-pixel latent patches give 64 tokens per frame,
# enough that attention, not the per-token layers, dominates a denoiser call.
GENERATOR_IMAGE_SIZE = 128
GENERATOR_CAPTURE_VIEWS = 2
# Wan2.1-I2V's default classifier-free guidance: the teacher's sampler.
WAN_GUIDANCE_SCALE = 5.0


class ForwardTimer:
    """Accumulate the wall time spent inside a module's forward calls."""

    def __init__(self, module):
        self.total_ms, self._start = 0.0, None
        module.register_forward_pre_hook(self._begin)
        module.register_forward_hook(self._end)

    def _begin(self, module, args):
        self._start = time.perf_counter()

    def _end(self, module, args, output):
        self.total_ms += (time.perf_counter() - self._start) * 1000.0


def visible_key_fraction(frames: int, block_frames: int, window: int) -> float:
    """Return the share of the full attention's query-key pairs the context window keeps."""
    from anyrecon_ros.model.models.attention import window_plan
    pairs = sum((query[1] - query[0]) * sum(stop - start for start, stop in keys)
                for query, keys in window_plan(frames, block_frames, window))
    return pairs / frames ** 2


def bench_generator(quick: bool, frame_counts=GENERATOR_FRAMES, speedup_frames: int = 40,
                    image_size: int = GENERATOR_IMAGE_SIZE, generations: int = None) -> dict:
    """Denoiser call and full generation of a tiny generator: sparse vs full, 4 vs 50 steps.

    At ``speedup_frames`` the 50-step full-attention generation runs twice:
    without guidance and with classifier-free guidance ``WAN_GUIDANCE_SCALE``
    (two denoiser passes per step), and 4 steps sparse is reported against each.
    Each generation figure is the median of ``generations`` timed runs after a
    warm-up (default 3 with ``quick``, else 5).

    Each generation is timed end to end and, through forward hooks, for the
    time spent in the denoiser alone: at this size the frame-wise VAE costs
    far more than a denoiser call (unlike the 14B model, where it is a few
    percent of a 4-step generation), so the end-to-end ratio mostly shows the
    VAE and the denoiser time shows what steps and sparsity buy.
    """
    import torch
    from diffusers import AutoencoderKLWan
    from anyrecon_ros.model.models.transformer import AnyReconTransformer
    from anyrecon_ros.model.models.vae import FrameVAE
    from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
    from anyrecon_ros.model.pipelines.scheduling import make_scheduler
    from anyrecon_ros.model.runtimes.denoisers import OnnxRuntimeDenoiser
    torch.manual_seed(0)
    transformer = AnyReconTransformer(**AnyReconTransformer.tiny_config()).eval()
    pipeline = AnyReconPipeline(transformer=transformer,
                                vae=AutoencoderKLWan(**FrameVAE.tiny_config()).eval(),
                                scheduler=make_scheduler())
    timer = ForwardTimer(transformer)
    # The same weights as an exported graph (the context window kept), for the runtime rows.
    onnx_denoiser = OnnxRuntimeDenoiser(transformer)
    rng = np.random.default_rng(0)
    captures = GENERATOR_CAPTURE_VIEWS
    capture = rng.integers(0, 256, (captures, image_size, image_size, 3), dtype=np.uint8)
    chunk_frames = 40
    figures = {'config': 'tiny', 'image_size': image_size, 'capture_views': captures,
               'chunk_frames': chunk_frames, 'tokens_per_frame': (image_size // 16) ** 2}

    def generate(row, name, renders, masks, steps, guidance_scale=1.0):
        # Median end-to-end run (after a warm-up), with its denoiser time.
        runs = []
        for _ in range(1 + (generations or (3 if quick else 5))):
            timer.total_ms, start = 0.0, time.perf_counter()
            pipeline(capture, renders, masks, num_inference_steps=steps,
                     chunk_frames=chunk_frames, guidance_scale=guidance_scale)
            runs.append(((time.perf_counter() - start) * 1000.0, timer.total_ms))
        total_ms, denoiser_ms = sorted(runs[1:])[(len(runs) - 1) // 2]
        row[f'generate_{name}_ms'], row[f'denoising_{name}_ms'] = total_ms, denoiser_ms

    for frames in frame_counts:
        renders = rng.integers(0, 256, (frames, image_size, image_size, 3), dtype=np.uint8)
        masks = np.ones((frames, image_size, image_size), bool)
        sequence = captures + min(frames, chunk_frames)
        hidden = torch.randn(1, 36, sequence, image_size // 8, image_size // 8)
        row = {'sequence_frames': sequence}
        for sparse in (True, False):
            transformer.set_attention(sparse)
            mode = 'sparse' if sparse else 'full'
            with torch.no_grad():
                row[f'denoiser_{mode}_ms'] = median_ms(lambda: transformer(
                    hidden_states=hidden, timestep=torch.tensor([500.0]), return_dict=False),
                    5 if quick else 9)
            generate(row, f'4_steps_{mode}', renders, masks, 4)
        transformer.set_attention(True)  # what the graph is exported with, on first use
        row['denoiser_onnxruntime_ms'] = median_ms(lambda: onnx_denoiser(
            hidden_states=hidden, timestep=torch.tensor([500.0])), 5 if quick else 9)
        row['onnxruntime_speedup_vs_torch'] = (row['denoiser_sparse_ms']
                                               / row['denoiser_onnxruntime_ms'])
        if frames == speedup_frames:
            generate(row, '50_steps_full', renders, masks, 50)
            # The teacher as Wan samples it: guidance, two denoiser passes per step.
            generate(row, '50_steps_full_cfg', renders, masks, 50, WAN_GUIDANCE_SCALE)
            row['guidance_scale'] = WAN_GUIDANCE_SCALE
            for kind in ('generate', 'denoising'):
                for baseline in ('full', 'full_cfg'):
                    row[f'{kind}_speedup_4_sparse_vs_50_{baseline}'] = (
                        row[f'{kind}_50_steps_{baseline}_ms'] / row[f'{kind}_4_steps_sparse_ms'])
            fraction = visible_key_fraction(sequence, transformer.config.block_frames,
                                            transformer.config.attention_window)
            row['visible_key_fraction'] = fraction
            # With attention the whole cost and nothing else: 50/4 steps x 1/fraction
            # (x 2 passes per step with guidance).
            row['speedup_bound'] = 50 / 4 / fraction
            row['speedup_bound_cfg'] = 2 * row['speedup_bound']
        row['ms_per_frame_4_steps_sparse'] = row['generate_4_steps_sparse_ms'] / frames
        figures[f'frames_{frames}'] = row
    transformer.set_attention(True)
    per_frame = [figures[f'frames_{f}']['ms_per_frame_4_steps_sparse'] for f in frame_counts]
    figures['frame_counts'] = list(frame_counts)
    figures['speedup_frames'] = speedup_frames
    figures['per_frame_spread'] = max(per_frame) / min(per_frame) - 1.0
    speedups = [figures[f'frames_{f}']['onnxruntime_speedup_vs_torch'] for f in frame_counts]
    figures['onnxruntime_speedup_vs_torch'] = statistics.median(speedups)
    return figures


def generator_table(generator: dict) -> list:
    """Return the generator section as markdown lines."""
    lines = ['', f'Generator ({generator["config"]} config, {generator["image_size"]} px = '
             f'{generator["tokens_per_frame"]} tokens per frame, {generator["capture_views"]} '
             f'capture views, chunks of {generator["chunk_frames"]}), ms; generation is end to '
             'end, denoising its time inside the denoiser:', '',
             '| frames | denoiser call sparse | denoiser call full | denoiser call ONNX Runtime '
             '| 4 steps sparse (denoising) | 4 steps full (denoising) | 50 steps full '
             f'(denoising) | 50 steps full, guidance {WAN_GUIDANCE_SCALE:.1f} (2 passes/step) '
             '(denoising) |',
             '|---|---|---|---|---|---|---|---|']
    for frames in generator['frame_counts']:
        row = generator[f'frames_{frames}']
        cells = [f'{row["denoiser_sparse_ms"]:.0f}', f'{row["denoiser_full_ms"]:.0f}',
                 f'{row["denoiser_onnxruntime_ms"]:.0f}']
        for name in ('4_steps_sparse', '4_steps_full', '50_steps_full', '50_steps_full_cfg'):
            cells.append(f'{row[f"generate_{name}_ms"]:.0f} ({row[f"denoising_{name}_ms"]:.0f})'
                         if f'generate_{name}_ms' in row else '')
        lines.append(f'| {frames} | ' + ' | '.join(cells) + ' |')
    row = generator[f'frames_{generator["speedup_frames"]}']
    lines += ['', f'At {generator["speedup_frames"]} frames, 4 steps sparse vs 50 steps full: '
              f'{row["denoising_speedup_4_sparse_vs_50_full"]:.1f}x in the denoiser, '
              f'{row["generate_speedup_4_sparse_vs_50_full"]:.1f}x end to end (target 20x; '
              f'the context window keeps {100 * row["visible_key_fraction"]:.0f} % of the '
              f'query-key pairs of {row["sequence_frames"]} frames, so 50 / 4 steps with '
              f'attention as the only cost bound the ratio at {row["speedup_bound"]:.1f}x). '
              f'Against the teacher as Wan samples it, 50 steps full with guidance '
              f'{row["guidance_scale"]:.1f} (two denoiser passes per step; the baseline of the '
              f'paper\'s "up to 20x"): '
              f'{row["denoising_speedup_4_sparse_vs_50_full_cfg"]:.1f}x in the denoiser, '
              f'{row["generate_speedup_4_sparse_vs_50_full_cfg"]:.1f}x end to end (bound '
              f'{row["speedup_bound_cfg"]:.1f}x). '
              f'Time per frame, 4 steps sparse, varies by '
              f'{100 * generator["per_frame_spread"]:.0f} % over '
              f'{generator["frame_counts"][0]} to {generator["frame_counts"][-1]} frames '
              '(target 20 %). The denoiser step in ONNX Runtime (the exported graph, context '
              f'window kept) is {generator["onnxruntime_speedup_vs_torch"]:.2f}x as fast as '
              'PyTorch (median over the frame counts).']
    return lines
