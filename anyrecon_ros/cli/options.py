# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Options several subcommands share: which generator to run, and how; mapping widths."""

# The defaults of --mapping-width and --stereo-width (eval, offline), as the
# libraries have them (core.scene_io.working_scene, core.mapping), without
# importing them to build the parser.
MAPPING_WIDTH = 640
STEREO_WIDTH = 160


def add_mapping_arguments(parser, inputs: str) -> None:
    """Add --mapping-width and --stereo-width; ``inputs`` names what is mapped, in the help."""
    parser.add_argument('--mapping-width', type=int, default=MAPPING_WIDTH,
                        help=f'{inputs} are mapped (stereo, memory) at their own resolution '
                             f'up to this width (default {MAPPING_WIDTH})')
    parser.add_argument('--stereo-width', type=int, default=STEREO_WIDTH,
                        help=f'multi-view stereo matches {inputs} without depth at most this '
                             f'wide (default {STEREO_WIDTH}, as the memory node)')


def add_generator_arguments(parser) -> None:
    """Add the options that choose and run the generator (see ``generator_settings``)."""
    parser.add_argument('--checkpoint', default='',
                        help='generator checkpoint folder (default: the shipped default; '
                             'untrained: a random tiny model)')
    parser.add_argument('--backend', default='auto',
                        choices=['auto', 'torch', 'onnxruntime', 'tensorrt'],
                        help='denoiser backend (default auto: the fastest this machine has)')
    parser.add_argument('--device', default='cpu', help='torch device (default cpu)')
    parser.add_argument('--steps', type=int, default=4,
                        help='denoising steps (default 4, the distilled schedule)')


def generator_settings(args):
    """Return the GeneratorSettings that ``add_generator_arguments`` options name."""
    from anyrecon_ros.model.pipelines.generator import GeneratorSettings
    return GeneratorSettings(checkpoint=args.checkpoint, backend=args.backend,
                             device=args.device, steps=args.steps)
