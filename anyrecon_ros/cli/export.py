# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon export``: the generator as checked ONNX graphs, and TensorRT engines from them.

ONNX export always runs and is always checked: ONNX Runtime must reproduce
PyTorch within ``ONNX_TOLERANCE`` on every graph, or the command fails. The
TensorRT step builds the denoiser step's FP16 engine (cached, see
``tensorrt_engine``; the ``tensorrt`` backend swaps in the denoiser, the
VAE stays in PyTorch) where ``tensorrt`` and CUDA exist; elsewhere it says
what is missing and exits 3, with the checked graphs ready to take to a
machine that has them.
"""

from pathlib import Path

from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import tensorrt_frames
from anyrecon_ros.model.pipelines.generator import ViewGenerator
from anyrecon_ros.model.pipelines.pipeline import SIZE_MULTIPLE
from anyrecon_ros.model.runtimes.export import DENOISER
from anyrecon_ros.model.runtimes.export import export_generator
from anyrecon_ros.model.runtimes.export import GRAPHS
from anyrecon_ros.model.runtimes.export import onnx_errors
from anyrecon_ros.model.runtimes.export import ONNX_TOLERANCE
from anyrecon_ros.model.runtimes.tensorrt_engine import cached_engine
from anyrecon_ros.model.runtimes.tensorrt_engine import frame_profile
from anyrecon_ros.model.runtimes.tensorrt_engine import tensorrt_missing

# Exit status when the ONNX graphs were written and checked but no engine could be built.
ENGINES_SKIPPED = 3


def default_height(width: int) -> int:
    """Return the 4:3 height for ``width``, rounded to the model's size multiple."""
    return max(SIZE_MULTIPLE, round(width * 3 / 4 / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def main_export(args) -> int:
    """Export, check, and (for ``--format tensorrt``) build engines; return the exit status."""
    settings = GeneratorSettings(checkpoint=args.checkpoint, backend='torch')
    generator = ViewGenerator.load(settings)
    width = args.width or generator.working_width
    height = args.height or default_height(width)
    out = Path(args.out)
    manifest = export_generator(generator.pipeline, out, (height, width))
    print(f'anyrecon export: {", ".join(f"{name}.onnx" for name in GRAPHS)} for {width}x{height}'
          f' images in {out}')
    errors = onnx_errors(generator.pipeline, out)
    for name, error in errors.items():
        print(f'  {name}: max |ONNX Runtime - PyTorch| = {error:.2e} (tolerance '
              f'{ONNX_TOLERANCE:.0e})')
    if max(errors.values()) > ONNX_TOLERANCE:
        print('anyrecon export: ONNX Runtime disagrees with PyTorch beyond the tolerance')
        return 1
    if args.format == 'onnx':
        return 0
    missing = tensorrt_missing()
    if missing:
        print(f'anyrecon export: TensorRT engine build skipped: this machine lacks '
              f'{" and ".join(missing)}. The checked ONNX graphs in {out} build engines on a '
              'machine that has them (anyrecon export --format tensorrt there, or backend '
              'tensorrt, which builds on first use).')
        return ENGINES_SKIPPED
    engine = cached_engine(out / f'{DENOISER}.onnx', out / 'engines',
                           frame_profile(out / f'{DENOISER}.onnx', tensorrt_frames(settings)),
                           manifest['sha256'][DENOISER])
    print(f'anyrecon export: FP16 TensorRT engine of the denoiser step: {engine}')
    return 0
