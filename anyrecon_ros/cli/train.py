# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon train``: flow-matching training of the generator (``model.training``)."""


def add_parser(commands) -> None:
    """Register ``anyrecon train`` with the subcommands' ``add_subparsers`` object."""
    train = commands.add_parser(
        'train', help='train the generator with flow matching on procedural and real scenes '
                      '(accelerate; CPU or GPU)')
    train.add_argument('--out', default='out/train', help='folder for checkpoint/, logs, grids')
    train.add_argument('--steps', type=int, default=2000, help='transformer steps')
    train.add_argument('--vae-steps', type=int, default=0,
                       help='train the small frame-wise Wan VAE first for this many steps')
    train.add_argument('--vae', default='', metavar='taef2:FOLDER',
                       help='use the pretrained TAEF2 autoencoder in FOLDER (frozen, latent '
                            'statistics calibrated on training frames; 32 latent channels) '
                            'instead of the small Wan VAE')
    train.add_argument('--taef2', metavar='FOLDER', help='the same as --vae taef2:FOLDER')
    train.add_argument('--model', default='small', choices=('tiny', 'small', 'medium'),
                       help='transformer size: small 1.2 M weights (the first default), '
                            'medium 4 M (the TAEF2 default), tiny for smoke runs')
    train.add_argument('--learning-rate', type=float, default=3e-4)
    train.add_argument('--batch-size', type=int, default=1, help='samples per step')
    train.add_argument('--fill-condition', nargs='?', const='telea', default='none',
                       choices=('none', 'telea', 'background'), metavar='FILL',
                       help='condition on the render with its holes filled: telea (the '
                            'default when given alone) or background (from the surface '
                            "behind each hole, by the render's depth); the checkpoint's "
                            'pipeline then samples with that condition_fill')
    train.add_argument('--start-step', type=int, default=0, metavar='K',
                       help='train the step a pipeline with start_step K samples: the '
                            "condition noised to the 4-step schedule's level K (0: all levels "
                            'from noise, plain flow matching)')
    train.add_argument('--init', metavar='CHECKPOINT',
                       help='start the transformer and VAE from this checkpoint folder (e.g. '
                            'a teacher refined with --start-step)')
    train.add_argument('--unseen-weight', type=float, default=1.0, metavar='W',
                       help='weight of the loss on latent pixels the render did not cover '
                            '(1: plain mean squared error)')
    train.add_argument('--ema', type=float, default=0.0, metavar='DECAY',
                       help='keep an exponential moving average of the transformer (e.g. '
                            '0.999) and ship it as the checkpoint transformer (0: off)')
    train.add_argument('--scene-folder', action='append', default=[],
                       help='also draw clips from this RGB-D posed-scene folder (repeatable; '
                            'folders without depth and redkitchen are refused)')
    train.add_argument('--procedural-share', type=float, default=None,
                       help='share of procedural clips when scene folders are given '
                            '(default 0.5)')
    train.add_argument('--procedural-walks', metavar='DIR',
                       help='draw the procedural clips from walks exported into DIR by '
                            '`python -m anyrecon_ros.model.training.walks` (no Open3D needed)')
    train.add_argument('--width', type=int, default=128,
                       help='training image width (height 3/4 of it on the 16-pixel grid)')
    train.add_argument('--clip-frames', type=int, default=8, help='frames per training clip')
    train.add_argument('--device', default='auto', help='auto (CUDA where there is one), cpu, '
                                                        'cuda, ...')
    train.add_argument('--workers', type=int, default=0,
                       help='processes that make samples (0: the training process)')
    train.add_argument('--max-minutes', type=float, default=0.0,
                       help='stop after this many minutes, with a checkpoint (0: no limit)')
    train.add_argument('--seed', type=int, default=1000)
    train.add_argument('--log-every', type=int, default=50)
    train.add_argument('--validate-every', type=int, default=500)
    train.add_argument('--checkpoint-every', type=int, default=500)
    train.add_argument('--no-resume', action='store_true', help='start over')
    train.set_defaults(run=run)


def train_config(args):
    """Return the ``TrainConfig`` the options name (ValueError for contradictory ones)."""
    from anyrecon_ros.model.training.data import check_training_path
    from anyrecon_ros.model.training.data import DataConfig
    from anyrecon_ros.model.training.flow_matching import MODEL_PRESETS
    from anyrecon_ros.model.training.flow_matching import TAEF2_PREFIX
    from anyrecon_ros.model.training.flow_matching import TrainConfig
    from anyrecon_ros.model.training.walks import walk_folders
    vae = args.vae
    if args.taef2:
        if vae and vae != TAEF2_PREFIX + args.taef2:
            raise ValueError('--taef2 and --vae name different autoencoders')
        vae = TAEF2_PREFIX + args.taef2
    folders = tuple(str(check_training_path(folder)) for folder in args.scene_folder)
    walks = ()
    if args.procedural_walks:
        walks = tuple(str(path) for path in walk_folders(check_training_path(
            args.procedural_walks)))
    share = args.procedural_share
    if share is None:
        share = 0.5 if folders else 1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f'--procedural-share must be in [0, 1], got {share}')
    height = round(args.width * 3 / 4 / 16) * 16
    data = DataConfig(width=args.width, height=height, clip_frames=args.clip_frames,
                      scene_folders=folders, procedural_share=share, walk_folders=walks,
                      condition_fill=args.fill_condition)
    return TrainConfig(out=args.out, steps=args.steps, vae_steps=args.vae_steps, vae=vae,
                       learning_rate=args.learning_rate, seed=args.seed,
                       log_every=args.log_every, validate_every=args.validate_every,
                       checkpoint_every=args.checkpoint_every, resume=not args.no_resume,
                       unseen_weight=args.unseen_weight, ema=args.ema,
                       start_step=args.start_step, init=args.init or '',
                       batch_size=args.batch_size, device=args.device, workers=args.workers,
                       max_minutes=args.max_minutes, model=MODEL_PRESETS[args.model](),
                       data=data)


def run(args) -> int:
    """Run ``anyrecon train`` with the ``TrainConfig`` the options name."""
    from anyrecon_ros.model.training.flow_matching import Trainer
    Trainer(train_config(args)).train()
    return 0
