# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``anyrecon`` command."""

import argparse
from pathlib import Path
import sys

from anyrecon_ros import __version__

# Nodes ``anyrecon node NAME`` starts: the executables of ``ros2 run anyrecon_ros``.
NODES = ('memory_node', 'planner_node', 'generator_node', 'synthetic_camera')


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog='anyrecon', description='AnyRecon for ROS 2: reconstruction from sparse keyframes.')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    commands = parser.add_subparsers(dest='command', required=True)

    demo = commands.add_parser(
        'demo', help='run the closed loop over DDS on the embedded scene and write its outputs')
    demo.add_argument('--out', default='out/demo', help='output folder (default out/demo)')
    demo.add_argument('--scene', help='scene for the synthetic camera (default: config/demo.yaml'
                      "'s, the embedded synthetic:0; or a posed-scene folder)")
    demo.add_argument('--timeout', type=float, default=600.0,
                      help='seconds before the demo gives up (default 600)')
    demo.set_defaults(run=_run_demo)

    offline = commands.add_parser(
        'offline', help='run the closed loop on a scene folder or a ROS 2 bag, without DDS')
    source = offline.add_mutually_exclusive_group(required=True)
    source.add_argument('--scene', help='posed-scene folder (posed, COLMAP or transforms.json)')
    source.add_argument('--bag', help='rosbag2 folder or file (mcap or sqlite3)')
    offline.add_argument('--out', default='out/offline', help='output folder')
    offline.add_argument('--image-topic', default='/image', help='bag: sensor_msgs/Image')
    offline.add_argument('--camera-info-topic', default='/camera_info',
                         help='bag: sensor_msgs/CameraInfo')
    offline.add_argument('--depth-topic', default='',
                         help='bag: depth image (16UC1 mm or 32FC1 m); none: stereo depth')
    offline.add_argument('--pose-topic', default='/pose',
                         help='bag: geometry_msgs/PoseStamped or nav_msgs/Odometry')
    offline.add_argument('--slop', type=float, default=0.05,
                         help='bag: seconds between an image and its pose (default 0.05)')
    offline.add_argument('--max-frames', type=int, default=0,
                         help='read at most this many frames (default: all)')
    offline.add_argument('--views', type=int, default=3,
                         help='coverage viewpoints to plan (default 3)')
    offline.add_argument('--generation-width', type=int, default=0,
                         help="width of generated views (default: the generator's)")
    add_generator_arguments(offline)
    offline.set_defaults(run=_run_offline)

    evaluation = commands.add_parser(
        'eval', help='reproduce held-out views of a scene: render, inpaint and anyrecon')
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
    evaluation.add_argument('--frames', type=int, default=100,
                            help='frames of a synthetic:SEED scene (default 100)')
    add_generator_arguments(evaluation)
    evaluation.set_defaults(run=_run_eval)

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
    train.set_defaults(run=_run_train)

    distill = commands.add_parser(
        'distill', help='distil a trained teacher into the 4-step student (DMD)')
    distill.add_argument('--teacher', required=True, help='teacher checkpoint folder')
    distill.add_argument('--out', default='out/distill', help='folder for checkpoint/ and logs')
    distill.add_argument('--steps', type=int, default=500)
    distill.add_argument('--learning-rate', type=float, default=1e-4)
    distill.set_defaults(run=_run_distill)

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
    exported.set_defaults(run=_run_export)

    node = commands.add_parser(
        'node', help='run one node, like `ros2 run anyrecon_ros NAME` (no ros2cli needed)')
    node.add_argument('name', choices=NODES, help='the node to run')
    node.add_argument('ros_args', nargs=argparse.REMAINDER,
                      help='passed to the node, e.g. --ros-args -p rate:=2.0')
    node.set_defaults(run=_run_node)

    bench = commands.add_parser('bench', help='measure speed, side by side with references')
    bench.add_argument('--quick', action='store_true', help='fewer repeats')
    bench.add_argument('--out', default='bench', help='folder for bench.json and bench.md')
    bench.add_argument('--sections', nargs='+',
                       choices=['geometry', 'generator', 'ros', 'demo_memory', 'soak'],
                       help='run only these sections (default: all but soak)')
    bench.add_argument('--soak', action='store_true',
                       help='also stream 640x480 RGB-D at 30 Hz into memory_node for ten '
                            'minutes (drops, point cap, resident-set plateau)')
    bench.set_defaults(run=_run_bench)

    maps = commands.add_parser('map', help='inspect, verify and export a map file')
    map_commands = maps.add_subparsers(dest='map_command', required=True)
    info = map_commands.add_parser('info', help='print what a map holds')
    info.add_argument('map', help='map file (SQLite)')
    info.set_defaults(run=_run_map_info)
    check = map_commands.add_parser('check', help='verify a map; exit 1 if it is damaged')
    check.add_argument('map', help='map file (SQLite)')
    check.set_defaults(run=_run_map_check)
    export = map_commands.add_parser('export', help='export the memory and the views')
    export.add_argument('map', help='map file (SQLite)')
    export.add_argument('--ply', help='write the memory as a PLY point cloud here')
    export.add_argument('--transforms', metavar='DIR',
                        help='write a nerfstudio transforms.json folder (keyframes and '
                             'generated views) here, for training a Gaussian splat')
    export.set_defaults(run=_run_map_export)
    return parser


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


def _run_demo(args) -> int:
    from anyrecon_ros.cli.demo import run_demo
    return run_demo(Path(args.out), timeout=args.timeout, scene=args.scene)


def _run_offline(args) -> int:
    from anyrecon_ros.cli.offline import main_offline
    return main_offline(args, generator_settings(args))


def _run_eval(args) -> int:
    from anyrecon_ros.loop.evaluation import main_eval
    return main_eval(args, generator_settings(args))


def _run_train(args) -> int:
    from anyrecon_ros.model.training.flow_matching import DataConfig
    from anyrecon_ros.model.training.flow_matching import TrainConfig
    from anyrecon_ros.model.training.flow_matching import Trainer
    config = TrainConfig(out=args.out, steps=args.steps, vae_steps=args.vae_steps,
                         learning_rate=args.learning_rate, validate_every=args.validate_every,
                         checkpoint_every=args.checkpoint_every, resume=not args.no_resume,
                         data=DataConfig(scene_folders=tuple(args.scene_folder),
                                         procedural_share=0.5 if args.scene_folder else 1.0))
    Trainer(config).train()
    return 0


def _run_distill(args) -> int:
    from anyrecon_ros.model.pipelines.generator import checkpoint_settings
    from anyrecon_ros.model.pipelines.generator import load_checkpoint
    from anyrecon_ros.model.training.distillation import DistillConfig
    from anyrecon_ros.model.training.distillation import Distiller
    config = DistillConfig(out=args.out, steps=args.steps, learning_rate=args.learning_rate)
    width = checkpoint_settings(args.teacher).get('working_width')
    Distiller(load_checkpoint(args.teacher), config, working_width=width).run()
    return 0


def _run_export(args) -> int:
    from anyrecon_ros.cli.export import main_export
    return main_export(args)


def _run_node(args) -> int:
    import importlib
    module = importlib.import_module(f'anyrecon_ros.ros.{args.name}')
    return module.main([args.name] + args.ros_args)


def _run_bench(args) -> int:
    from anyrecon_ros.bench.run import DEFAULT_SECTIONS
    from anyrecon_ros.bench.run import run_bench
    sections = list(args.sections or DEFAULT_SECTIONS)
    if args.soak and 'soak' not in sections:
        sections.append('soak')
    results = run_bench(args.out, args.quick, sections)
    print((Path(args.out) / 'bench.md').read_text())
    return 0 if results else 1


def _open_map(path):
    from anyrecon_ros.core.map_store import MapStore
    return MapStore(path, create=False)


def _run_map_info(args) -> int:
    with _open_map(args.map) as store:
        for key, value in store.info().items():
            print(f'{key}: {value}')
    return 0


def _run_map_check(args) -> int:
    with _open_map(args.map) as store:
        problems = store.check()
    for problem in problems:
        print(f'{args.map}: {problem}', file=sys.stderr)
    print(f'{args.map}: {"intact" if not problems else f"{len(problems)} problem(s)"}')
    return 0 if not problems else 1


def _run_map_export(args) -> int:
    if not (args.ply or args.transforms):
        print('anyrecon map export: name --ply and/or --transforms', file=sys.stderr)
        return 2
    with _open_map(args.map) as store:
        if args.ply:
            memory = store.load_memory()
            if memory is None:
                print(f'{args.map} holds no memory to export', file=sys.stderr)
                return 1
            memory.export_ply(args.ply)
            print(f'wrote {len(memory)} points to {args.ply}')
        if args.transforms:
            from anyrecon_ros.core.scene_io import write_transforms_json
            keyframes, generated = list(store.keyframes()), list(store.generated())
            if not keyframes:
                print(f'{args.map} holds no keyframes to export', file=sys.stderr)
                return 1
            write_transforms_json(args.transforms, keyframes[0].camera, keyframes, generated)
            print(f'wrote {len(keyframes)} keyframes and {len(generated)} generated views '
                  f'to {args.transforms}')
    return 0


def main(argv=None) -> int:
    """Run the ``anyrecon`` command line."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (OSError, ValueError, KeyError) as error:
        # Bad input (a missing or foreign file, a damaged map): one clear line, no traceback.
        print(f'anyrecon: {error}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
