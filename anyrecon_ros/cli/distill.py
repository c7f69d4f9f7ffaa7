# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon distill``: a trained teacher distilled into the 4-step student (DMD)."""


def add_parser(commands) -> None:
    """Register ``anyrecon distill`` with the subcommands' ``add_subparsers`` object."""
    distill = commands.add_parser(
        'distill', help='distil a trained teacher into the 4-step student (DMD)')
    distill.add_argument('--teacher', required=True, help='teacher checkpoint folder')
    distill.add_argument('--out', default='out/distill', help='folder for checkpoint/ and logs')
    distill.add_argument('--steps', type=int, default=500)
    distill.add_argument('--learning-rate', type=float, default=1e-4)
    distill.set_defaults(run=run)


def run(args) -> int:
    """Run ``anyrecon distill`` with the ``DistillConfig`` the options name."""
    from anyrecon_ros.model.pipelines.generator import checkpoint_settings
    from anyrecon_ros.model.pipelines.generator import load_checkpoint
    from anyrecon_ros.model.training.distillation import DistillConfig
    from anyrecon_ros.model.training.distillation import Distiller
    config = DistillConfig(out=args.out, steps=args.steps, learning_rate=args.learning_rate)
    width = checkpoint_settings(args.teacher).get('working_width')
    Distiller(load_checkpoint(args.teacher), config, working_width=width).run()
    return 0
