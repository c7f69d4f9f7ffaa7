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
    distill.add_argument('--scene-folder', action='append', default=[],
                         help='also draw clips from this RGB-D posed-scene folder (repeatable)')
    distill.add_argument('--procedural-share', type=float, default=None,
                         help='share of procedural clips when scene folders are given '
                              '(default 0.5)')
    distill.set_defaults(run=run)


def run(args) -> int:
    """Run ``anyrecon distill`` with the ``DistillConfig`` the options name.

    The student samples as the teacher does: its checkpoint keeps the
    teacher's VAE, scheduler and ``condition_fill``, and the training clips'
    condition renders are filled the same way.
    """
    from anyrecon_ros.model.pipelines.generator import checkpoint_settings
    from anyrecon_ros.model.pipelines.generator import load_checkpoint
    from anyrecon_ros.model.training.data import check_training_path
    from anyrecon_ros.model.training.data import DataConfig
    from anyrecon_ros.model.training.distillation import DistillConfig
    from anyrecon_ros.model.training.distillation import Distiller
    folders = tuple(str(check_training_path(folder)) for folder in args.scene_folder)
    share = args.procedural_share
    if share is None:
        share = 0.5 if folders else 1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f'--procedural-share must be in [0, 1], got {share}')
    config = DistillConfig(out=args.out, steps=args.steps, learning_rate=args.learning_rate)
    width = checkpoint_settings(args.teacher).get('working_width')
    Distiller(load_checkpoint(args.teacher), config, working_width=width,
              data=DataConfig(scene_folders=folders, procedural_share=share)).run()
    return 0
