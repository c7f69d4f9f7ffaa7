# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon train``: flow-matching training of the generator (``model.training``)."""


def add_parser(commands) -> None:
    """Register ``anyrecon train`` with the subcommands' ``add_subparsers`` object."""
    train = commands.add_parser(
        'train', help='train the generator with flow matching on procedural scenes (accelerate)')
    train.add_argument('--out', default='out/train', help='folder for checkpoint/, logs, grids')
    train.add_argument('--steps', type=int, default=2000, help='transformer steps')
    train.add_argument('--vae-steps', type=int, default=0,
                       help='train the small frame-wise VAE first for this many steps')
    train.add_argument('--learning-rate', type=float, default=3e-4)
    train.add_argument('--validate-every', type=int, default=500)
    train.add_argument('--checkpoint-every', type=int, default=500)
    train.add_argument('--scene-folder', action='append', default=[],
                       help='also draw clips from this posed-scene folder (repeatable)')
    train.add_argument('--no-resume', action='store_true', help='start over')
    train.set_defaults(run=run)


def run(args) -> int:
    """Run ``anyrecon train`` with the ``TrainConfig`` the options name."""
    from anyrecon_ros.model.training.data import DataConfig
    from anyrecon_ros.model.training.flow_matching import TrainConfig
    from anyrecon_ros.model.training.flow_matching import Trainer
    config = TrainConfig(out=args.out, steps=args.steps, vae_steps=args.vae_steps,
                         learning_rate=args.learning_rate, validate_every=args.validate_every,
                         checkpoint_every=args.checkpoint_every, resume=not args.no_resume,
                         data=DataConfig(scene_folders=tuple(args.scene_folder),
                                         procedural_share=0.5 if args.scene_folder else 1.0))
    Trainer(config).train()
    return 0
