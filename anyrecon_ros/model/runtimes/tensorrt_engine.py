# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TensorRT engines from the exported ONNX graphs: FP16 build, a cache, and a runner.

An engine is built with TensorRT's Python API from one ONNX graph
(``export.py``), with one optimisation profile that covers the frame counts
the pipeline uses (the other axes are fixed in the graph). Building takes
minutes for a large model, so engines are cached on disk under a key made of
the graph's hash, the profile, the TensorRT version, the precision and the
GPU: a change to any of them builds a new engine, and nothing stale is run.

Written against TensorRT 10 (and 8.6, whose networks need the explicit-batch
flag). Where ``tensorrt`` or CUDA is missing, :func:`tensorrt_missing` says
what, and callers refuse or skip with that message.
"""

import hashlib
import importlib.util
import json
import os
from pathlib import Path

import torch

# What a profile fixes: for each dynamic input, (min, opt, max) shapes.
Profile = dict


def tensorrt_missing() -> list:
    """Return what this machine lacks to build and run engines (empty when nothing)."""
    missing = []
    if importlib.util.find_spec('tensorrt') is None:
        missing.append('the tensorrt package')
    if not torch.cuda.is_available():
        missing.append('a CUDA GPU')
    return missing


def frame_profile(onnx_path, frames: tuple) -> Profile:
    """Return the profile of a graph whose only dynamic axis is a frame count.

    ``frames`` is (min, opt, max). Each graph input with a symbolic
    dimension gets that dimension set to each of the three counts; static
    inputs need no profile.
    """
    import onnx
    low, opt, high = frames
    if not 1 <= low <= opt <= high:
        raise ValueError(f'frame profile needs 1 <= min <= opt <= max, got {frames}')
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    profile = {}
    for graph_input in graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        if not any(dim.dim_param for dim in dims):
            continue
        profile[graph_input.name] = tuple(
            tuple(count if dim.dim_param else dim.dim_value for dim in dims)
            for count in (low, opt, high))
    return profile


def engine_cache_key(onnx_sha256: str, profile: Profile, tensorrt_version: str,
                     fp16: bool = True, gpu: str = '') -> str:
    """Return the key an engine is cached under: graph, shapes, TensorRT, precision, GPU."""
    description = json.dumps({'onnx': onnx_sha256, 'profile': profile,
                              'tensorrt': tensorrt_version, 'fp16': fp16, 'gpu': gpu},
                             sort_keys=True)
    return hashlib.sha256(description.encode()).hexdigest()


def cached_engine(onnx_path, cache_folder, profile: Profile, onnx_sha256: str,
                  fp16: bool = True) -> Path:
    """Return the engine for a graph and profile, building it when the cache lacks it."""
    import tensorrt
    key = engine_cache_key(onnx_sha256, profile, tensorrt.__version__, fp16,
                           torch.cuda.get_device_name())
    path = Path(cache_folder) / f'{Path(onnx_path).stem}-{key[:20]}.engine'
    if not path.is_file():
        build_engine(onnx_path, path, profile, fp16)
    return path


def build_engine(onnx_path, engine_path, profile: Profile, fp16: bool = True) -> Path:
    """Build a serialized engine from ONNX with one optimisation profile; write it atomically."""
    import tensorrt as trt
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = '; '.join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise RuntimeError(f'TensorRT cannot parse {onnx_path}: {errors}')
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    optimisation = builder.create_optimization_profile()
    for name, (low, opt, high) in profile.items():
        optimisation.set_shape(name, low, opt, high)
    config.add_optimization_profile(optimisation)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f'TensorRT failed to build an engine from {onnx_path}')
    engine_path = Path(engine_path)
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    # A build interrupted half-way must not leave a file the cache would trust.
    partial = engine_path.with_suffix('.partial')
    partial.write_bytes(bytes(serialized))
    os.replace(partial, engine_path)
    return engine_path


def _network_flags(trt) -> int:
    # TensorRT 10 networks are always explicit-batch (the flag is deprecated).
    if int(trt.__version__.split('.')[0]) >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


class TensorRTEngine:
    """Run a serialized engine on CUDA tensors: float32 inputs in, its first output back."""

    def __init__(self, engine_path):
        import tensorrt as trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f'TensorRT cannot load {engine_path} (built by another version?)')
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(index) for index in range(self.engine.num_io_tensors)]
        self.inputs = [name for name in names
                       if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
        self.outputs = [name for name in names if name not in self.inputs]

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        """Return the first output for ``tensors`` (CUDA, in the engine's input order)."""
        tensors = [tensor.float().contiguous() for tensor in tensors]
        for name, tensor in zip(self.inputs, tensors):
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = []
        for name in self.outputs:
            output = torch.empty(tuple(self.context.get_tensor_shape(name)),
                                 dtype=torch.float32, device=tensors[0].device)
            self.context.set_tensor_address(name, output.data_ptr())
            outputs.append(output)
        stream = torch.cuda.current_stream(tensors[0].device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError('TensorRT execution failed')
        stream.synchronize()
        return outputs[0]
