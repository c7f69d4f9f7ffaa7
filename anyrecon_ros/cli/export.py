# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon export``: the generator as checked ONNX graphs, and TensorRT engines from them.

ONNX export always runs and is always checked: ONNX Runtime must reproduce
PyTorch within ``ONNX_TOLERANCE`` on every graph, or the command fails. The
TensorRT step builds the denoiser step's FP16 engine (cached, see
``tensorrt_engine``; the ``tensorrt`` backend swaps in the denoiser, the
VAE stays in PyTorch) where ``tensorrt`` and CUDA exist; elsewhere it says
what is missing and exits 3, with the checked graphs ready to take to a
machine that has them. The work is ``export_checked`` (typed
``ExportSettings``); torch and the runtimes are imported only when it runs.
"""

from dataclasses import dataclass
from pathlib import Path

# Exit status when the ONNX graphs were written and checked but no engine could be built.
ENGINES_SKIPPED = 3


@dataclass
class ExportSettings:
    """What ``export_checked`` exports, and where."""

    target: str = 'onnx'       # onnx, or tensorrt: also the denoiser step's FP16 engine
    checkpoint: str = ''       # generator checkpoint folder ('': the shipped default)
    out: Path = Path('out/export')
    width: int = 0             # image width (0: the checkpoint's working width)
    height: int = 0            # image height (0: 4:3)


def add_parser(commands) -> None:
    """Register ``anyrecon export`` with the subcommands' ``add_subparsers`` object."""
    exported = commands.add_parser(
        'export', help='export the generator to ONNX (checked in ONNX Runtime) or TensorRT')
    exported.add_argument('--format', choices=['onnx', 'tensorrt'], default='onnx',
                          help='onnx: denoiser step, VAE encoder and decoder; tensorrt: also '
                               'the FP16 engine of the denoiser step (exit 3 where tensorrt or '
                               'CUDA is missing)')
    exported.add_argument('--checkpoint', default='',
                          help='generator checkpoint folder (default: the shipped default)')
    exported.add_argument('--out', default='out/export', help='folder for the graphs and engines')
    exported.add_argument('--width', type=int, default=0,
                          help="image width (default: the checkpoint's working width)")
    exported.add_argument('--height', type=int, default=0, help='image height (default: 4:3)')
    exported.set_defaults(run=run)


def run(args) -> int:
    """Run ``anyrecon export``; return its exit status."""
    return export_checked(ExportSettings(target=args.format, checkpoint=args.checkpoint,
                                         out=Path(args.out), width=args.width,
                                         height=args.height))


def default_height(width: int) -> int:
    """Return the 4:3 height for ``width``, rounded to the model's size multiple."""
    from anyrecon_ros.model.pipelines.pipeline import SIZE_MULTIPLE
    return max(SIZE_MULTIPLE, round(width * 3 / 4 / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def export_checked(settings: ExportSettings) -> int:
    """Export, check, and (for target tensorrt) build engines; return the exit status."""
    from anyrecon_ros.model.pipelines.generator import GeneratorSettings
    from anyrecon_ros.model.pipelines.generator import tensorrt_frames
    from anyrecon_ros.model.pipelines.generator import ViewGenerator
    from anyrecon_ros.model.runtimes.export import DENOISER
    from anyrecon_ros.model.runtimes.export import export_generator
    from anyrecon_ros.model.runtimes.export import GRAPHS
    from anyrecon_ros.model.runtimes.export import onnx_errors
    from anyrecon_ros.model.runtimes.export import ONNX_TOLERANCE
    from anyrecon_ros.model.runtimes.tensorrt_engine import cached_engine
    from anyrecon_ros.model.runtimes.tensorrt_engine import frame_profile
    from anyrecon_ros.model.runtimes.tensorrt_engine import tensorrt_missing
    generator_settings = GeneratorSettings(checkpoint=settings.checkpoint, backend='torch')
    generator = ViewGenerator.load(generator_settings)
    width = settings.width or generator.working_width
    height = settings.height or default_height(width)
    out = Path(settings.out)
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
    if settings.target == 'onnx':
        return 0
    missing = tensorrt_missing()
    if missing:
        print(f'anyrecon export: TensorRT engine build skipped: this machine lacks '
              f'{" and ".join(missing)}. The checked ONNX graphs in {out} build engines on a '
              'machine that has them (anyrecon export --format tensorrt there, or backend '
              'tensorrt, which builds on first use).')
        return ENGINES_SKIPPED
    engine = cached_engine(out / f'{DENOISER}.onnx', out / 'engines',
                           frame_profile(out / f'{DENOISER}.onnx',
                                         tensorrt_frames(generator_settings)),
                           manifest['sha256'][DENOISER])
    print(f'anyrecon export: FP16 TensorRT engine of the denoiser step: {engine}')
    return 0
