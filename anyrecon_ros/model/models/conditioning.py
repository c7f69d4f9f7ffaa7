# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What conditions an official-weights transformer besides the latents: image and prompt.

Wan2.1-I2V attends, in every block's cross-attention, to two token sets:

* the CLIP image features of one image: for AnyRecon the first capture
  view. :func:`clip_image_features` computes them as the official sampler
  does: the image in [-1, 1] resized to the CLIP input size by bicubic
  interpolation (the whole image, squashed, not the processor's centre
  crop), mapped back to [0, 1], normalised with the processor's mean and
  std, and the hidden states of the vision tower's second-to-last layer
  (257 tokens of 1280 for ViT-H/14);
* the UMT5 embedding of the prompt. AnyRecon's prompt is ``" "``, which the
  official prompt cleaning turns into ``""``: one end-of-sequence token,
  whose encoder output is followed by zeros up to 512 tokens.
  :func:`encode_empty_prompt` computes it once with the local text encoder;
  :func:`save_empty_prompt` stores it with a checkpoint
  (``empty_prompt.safetensors``), so the 5.7-billion-weight text encoder is
  never loaded to generate.

The encoders are ``transformers`` models (``CLIPVisionModel``,
``UMT5EncoderModel``), loaded by :mod:`..loaders.official` from local folders.
"""

from pathlib import Path

from safetensors.torch import load_file
from safetensors.torch import save_file
import torch
import torch.nn.functional as F

EMPTY_PROMPT_FILE = 'empty_prompt.safetensors'
EMPTY_PROMPT_KEY = 'empty_prompt_embedding'
# The official sampler's prompt, and what its cleaning (whitespace collapsed, stripped) leaves.
OFFICIAL_PROMPT = ' '


def _crop_size(image_processor) -> tuple:
    size = image_processor.crop_size
    if isinstance(size, int):
        return size, size
    return int(size['height']), int(size['width'])


def clip_image_features(image_encoder, image_processor, image) -> torch.Tensor:
    """Return the (1, tokens, dim) CLIP features of one (H, W, 3) uint8 RGB image.

    The official preprocessing (see the module docstring): bicubic resize
    of the whole image to the processor's crop size, the processor's mean
    and std; the output is the second-to-last layer's hidden states, in the
    image encoder's dtype, on its device.
    """
    parameter = next(image_encoder.parameters())
    pixels = torch.as_tensor(image).to(parameter.device)
    if pixels.ndim != 3 or pixels.shape[-1] != 3 or pixels.dtype != torch.uint8:
        raise ValueError(f'the conditioning image must be (H, W, 3) uint8, got '
                         f'{tuple(pixels.shape)} {pixels.dtype}')
    pixels = pixels.permute(2, 0, 1)[None].float() / 127.5 - 1.0
    pixels = F.interpolate(pixels, size=_crop_size(image_processor), mode='bicubic',
                           align_corners=False)
    mean = torch.tensor(image_processor.image_mean, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(image_processor.image_std, device=pixels.device).view(1, 3, 1, 1)
    pixels = (pixels * 0.5 + 0.5 - mean) / std
    output = image_encoder(pixel_values=pixels.to(parameter.dtype), output_hidden_states=True)
    return output.hidden_states[-2]


def clean_prompt(prompt: str) -> str:
    """Collapse whitespace and strip it, as Wan's prompt cleaning does (``" "`` -> ``""``)."""
    return ' '.join(prompt.split())


@torch.no_grad()
def encode_empty_prompt(text_encoder, tokenizer, seq_len: int = 512,
                        prompt: str = OFFICIAL_PROMPT) -> torch.Tensor:
    """Return the (1, seq_len, dim) float32 embedding of the (cleaned) official prompt.

    The prompt is tokenised with its special tokens (``""``: the one
    end-of-sequence token), padded to ``seq_len`` with the attention mask
    marking the padding, encoded, and every position past the real tokens
    set to zero, as Wan's prompt encoding does.
    """
    tokens = tokenizer([clean_prompt(prompt)], padding='max_length', max_length=seq_len,
                       truncation=True, add_special_tokens=True, return_attention_mask=True,
                       return_tensors='pt')
    device = next(text_encoder.parameters()).device
    ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
    hidden = text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    length = int(mask.sum())
    if not 1 <= length <= seq_len:
        raise ValueError(f'the tokenised prompt has {length} tokens; expected 1 to {seq_len}')
    hidden[:, length:] = 0
    return hidden.cpu()


def save_empty_prompt(folder, embedding: torch.Tensor) -> Path:
    """Write ``embedding`` to ``folder/empty_prompt.safetensors``; return the path."""
    path = Path(folder) / EMPTY_PROMPT_FILE
    save_file({EMPTY_PROMPT_KEY: embedding.detach().float().contiguous().cpu()}, str(path))
    return path


def load_empty_prompt(folder) -> torch.Tensor:
    """Read the embedding :func:`save_empty_prompt` wrote into ``folder``."""
    path = Path(folder) / EMPTY_PROMPT_FILE
    if not path.is_file():
        raise FileNotFoundError(f'{path} does not exist: the empty-prompt embedding is '
                                'computed once with the UMT5 text encoder (anyrecon '
                                'prepare-official) and stored there')
    tensors = load_file(str(path))
    if EMPTY_PROMPT_KEY not in tensors:
        raise ValueError(f'{path} holds no {EMPTY_PROMPT_KEY!r} tensor')
    return tensors[EMPTY_PROMPT_KEY]
