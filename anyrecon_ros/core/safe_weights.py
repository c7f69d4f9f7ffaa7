# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Weights are read from safetensors only: a pickle checkpoint is refused, saying why.

Unpickling a ``.bin``/``.pt``/``.ckpt`` file runs whatever code its author
put in it, so no loader here opens one; these checks name the file and the
way out (convert it where you trust it) instead of failing obscurely.
"""

from pathlib import Path

SAFETENSORS_SUFFIX = '.safetensors'
PICKLE_SUFFIXES = ('.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle')
WHY = ('unpickling runs arbitrary code from the file; convert it to safetensors '
       '(safetensors.torch.save_file) where you trust it')


def refuse_pickle_file(path) -> None:
    """Raise ValueError when ``path`` names a pickle checkpoint."""
    path = Path(path)
    if path.suffix in PICKLE_SUFFIXES:
        raise ValueError(f'{path} is a pickle checkpoint and is not loaded: {WHY}')


def refuse_pickle_only_folder(folder) -> None:
    """Raise ValueError when ``folder`` holds pickle checkpoints and no safetensors weights.

    Pickles beside safetensors weights are left alone: they are never opened.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    names = [path.name for path in sorted(folder.iterdir()) if path.is_file()]
    pickles = [name for name in names if Path(name).suffix in PICKLE_SUFFIXES]
    if pickles and not any(name.endswith(SAFETENSORS_SUFFIX) for name in names):
        raise ValueError(f'{folder} holds only pickle checkpoints ({", ".join(pickles)}), '
                         f'which are not loaded: {WHY}')
