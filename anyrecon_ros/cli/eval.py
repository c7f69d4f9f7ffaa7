# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon eval``: held-out views reproduced by render, inpaint, anyrecon and inpaint_loop.

The evaluation is ``loop.evaluation.evaluate`` (typed ``EvalSettings``); this
module prints its progress on stderr and its report on stdout.
"""

import sys

from anyrecon_ros.cli.options import add_generator_arguments
from anyrecon_ros.cli.options import add_mapping_arguments
from anyrecon_ros.cli.options import generator_settings


def add_parser(commands) -> None:
    """Register ``anyrecon eval`` with the subcommands' ``add_subparsers`` object."""
    evaluation = commands.add_parser(
        'eval', help='reproduce held-out views of a scene (render, inpaint, anyrecon, and the '
                     'loop with Telea inpainting as its generator) and measure the maps')
    evaluation.add_argument('--scene', required=True,
                            help='posed-scene folder, COLMAP model, transforms.json scene, or '
                                 'synthetic:SEED')
    evaluation.add_argument('--inputs', default='every:10',
                            help='input frames: every:N (default every:10) or a list 0,10,20')
    evaluation.add_argument('--targets', default='interpolate',
                            help='interpolate (default: halfway between inputs), extrapolate '
                                 '(beyond the first and last input), or a list 5,15')
    evaluation.add_argument('--out', default='out/eval', help='output folder')
    evaluation.add_argument('--width', type=int, default=0,
                            help='working resolution: larger images are resized to this width '
                                 "(default: the generator's working width)")
    add_mapping_arguments(evaluation, 'input views')
    evaluation.add_argument('--frames', type=int, default=100,
                            help='frames of a synthetic:SEED scene (default 100)')
    evaluation.add_argument('--loop-path', choices=('planner', 'targets'), default='planner',
                            help='what the two loops generate along: the path through the '
                                 'targets at the density the planner gives trajectories '
                                 '(default), or the targets alone')
    add_generator_arguments(evaluation)
    evaluation.set_defaults(run=run)


def run(args) -> int:
    """Run ``anyrecon eval``: write metrics.json, compare.png and report.md; print the report."""
    from anyrecon_ros.loop.evaluation import EvalSettings
    from anyrecon_ros.loop.evaluation import evaluate
    from anyrecon_ros.loop.evaluation import report_markdown
    settings = EvalSettings(inputs=args.inputs, targets=args.targets, width=args.width,
                            mapping_width=args.mapping_width, stereo_width=args.stereo_width,
                            frames=args.frames, loop_path=args.loop_path,
                            generator=generator_settings(args))
    metrics = evaluate(args.scene, args.out, settings,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(report_markdown(metrics))
    return 0
