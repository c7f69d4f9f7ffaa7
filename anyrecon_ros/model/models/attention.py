# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Context-window sparse self-attention for diffusers' Wan attention modules.

AnyRecon groups a sequence's latent frames into blocks of ``block_frames``
(8). Block 0 holds the capture-view cache. A query in block i sees block 0
and the blocks j with ``|i - j| <= window``; within a frame every token sees
every token (no spatial sparsity). Only the keys and values a query block may
see are gathered, so the cost grows linearly with the number of frames.
Unlike the official code, a frame count that is not a multiple of
``block_frames`` keeps its short last block instead of dropping it.

Tokens are ordered frame by frame (frame-major, as the Wan transformer
flattens its patches), so frame f holds tokens ``[f * T, (f + 1) * T)`` for
``T`` tokens per frame.
"""

import math

import torch
import torch.nn.functional as F


def window_plan(frames: int, block_frames: int = 8, window: int = 1) -> list:
    """Return, for each query block, its frame span and the frame spans of the keys it sees.

    Each entry is ``(query_span, key_spans)``; a span is a half-open
    ``(start, stop)`` range of frames. Key spans are disjoint and ordered.
    """
    _check_layout(frames, block_frames, window)
    blocks = math.ceil(frames / block_frames)
    plan = []
    for block in range(blocks):
        first, last = max(block - window, 0), min(block + window, blocks - 1)
        # Block 0 joins the window as one span when they touch.
        key_blocks = [(0, last + 1)] if first <= 1 else [(0, 1), (first, last + 1)]
        plan.append((_frame_span(block, block + 1, block_frames, frames),
                     [_frame_span(start, stop, block_frames, frames)
                      for start, stop in key_blocks]))
    return plan


def block_mask(frames: int, tokens_per_frame: int, block_frames: int = 8,
               window: int = 1) -> torch.Tensor:
    """Return the dense (N, N) boolean mask, True where a query token may see a key token.

    N is ``frames * tokens_per_frame``. This is the reference the sparse
    attention must match; it is quadratic in N, so only tests build it.
    """
    _check_layout(frames, block_frames, window)
    block_of_frame = torch.arange(frames) // block_frames
    block_of_token = block_of_frame.repeat_interleave(tokens_per_frame)
    query_block, key_block = block_of_token[:, None], block_of_token[None, :]
    return (key_block == 0) | ((query_block - key_block).abs() <= window)


def context_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             tokens_per_frame: int, block_frames: int = 8,
                             window: int = 1) -> torch.Tensor:
    """Attend each query block to block 0 and its neighbours only.

    ``query``, ``key`` and ``value`` are (..., N, D) with N a whole number of
    frames of ``tokens_per_frame`` tokens (``scaled_dot_product_attention``'s
    layout, e.g. (B, heads, N, D)). Returns (..., N, D).
    """
    tokens = query.shape[-2]
    if tokens_per_frame < 1 or tokens % tokens_per_frame:
        raise ValueError(f'{tokens} tokens are not whole frames of {tokens_per_frame} tokens')
    outputs = []
    for query_span, key_spans in window_plan(tokens // tokens_per_frame, block_frames, window):
        query_tokens = _token_slice(query_span, tokens_per_frame)
        visible_keys = _gather(key, key_spans, tokens_per_frame)
        visible_values = _gather(value, key_spans, tokens_per_frame)
        outputs.append(F.scaled_dot_product_attention(
            query[..., query_tokens, :], visible_keys, visible_values))
    return torch.cat(outputs, dim=-2)


def batched_context_window_attention(query: torch.Tensor, key: torch.Tensor,
                                     value: torch.Tensor, tokens_per_frame: int,
                                     block_frames: int = 8, window: int = 1) -> torch.Tensor:
    """Attend like :func:`context_window_attention`, as one batched, traceable attention.

    The sequence is padded to whole blocks and every query block attends, in
    one masked attention over a blocks axis, to block 0 and its ``2 * window
    + 1`` neighbours (padding, blocks past either end and a block 0 already
    among the neighbours are masked out). The cost stays linear in the frame
    count and no Python loop depends on it, so a graph exported with a
    dynamic frame axis keeps the context window's savings.
    """
    leading, tokens = query.shape[:-2], query.shape[-2]
    block_tokens = block_frames * tokens_per_frame
    blocks = (tokens + block_tokens - 1) // block_tokens
    padding = blocks * block_tokens - tokens

    def by_block(tensor):  # (..., N, D) -> (L, blocks, block_tokens, D), L the leading dims
        padded = F.pad(tensor.reshape(-1, tokens, tensor.shape[-1]), (0, 0, 0, padding))
        return padded.unflatten(1, (blocks, block_tokens))

    real = F.pad(torch.ones(tokens, dtype=torch.bool, device=query.device), (0, padding))
    real = real.view(blocks, block_tokens)
    block = torch.arange(blocks, device=query.device)
    keys, values = by_block(key), by_block(value)
    # Block 0 for every query block, unless it is among the neighbours already.
    gathered_keys = [keys[:, :1].expand_as(keys)]
    gathered_values = [values[:, :1].expand_as(values)]
    visible = [real[0].expand(blocks, -1) & (block > window)[:, None]]
    for offset in range(-window, window + 1):
        # Neighbour ``offset`` of block i is block i + offset: shift the blocks axis.
        gathered_keys.append(_shift_blocks(keys, offset, window, blocks))
        gathered_values.append(_shift_blocks(values, offset, window, blocks))
        inside = (block + offset >= 0) & (block + offset < blocks)
        visible.append(_shift_blocks(real, offset, window, blocks, axis=-2) & inside[:, None])
    # An additive mask, built once at (blocks, 1, 1, keys): with a boolean one
    # the ONNX graph selects and NaN-checks the whole score tensor instead
    # (most of ONNX Runtime's time). Every query sees its own block, so no
    # row is all -inf.
    hidden = ~torch.cat(visible, dim=-1)[:, None, None, :]
    bias = torch.zeros(hidden.shape, dtype=query.dtype, device=query.device)
    bias = bias.masked_fill(hidden, float('-inf'))
    # Blocks lead so that SDPA sees 4D tensors.
    attended = F.scaled_dot_product_attention(
        by_block(query).transpose(0, 1), torch.cat(gathered_keys, dim=-2).transpose(0, 1),
        torch.cat(gathered_values, dim=-2).transpose(0, 1), attn_mask=bias)
    attended = attended.transpose(0, 1).flatten(1, 2)[:, :tokens]
    return attended.reshape(*leading, tokens, attended.shape[-1])


def _shift_blocks(tensor: torch.Tensor, offset: int, window: int, blocks,
                  axis: int = -3) -> torch.Tensor:
    # Entry i along ``axis`` (negative) is block i + offset (zeros past either end).
    padded = F.pad(tensor, [0, 0] * (-axis - 1) + [window, window])
    return padded.narrow(axis, window + offset, blocks)


def apply_wan_rotary(hidden_states: torch.Tensor, freqs_cos: torch.Tensor,
                     freqs_sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, N, heads, D) query or key features by Wan's 3D RoPE.

    Consecutive feature pairs (x0, x1) are rotated by the pair's angle, the
    same arithmetic as diffusers' ``WanAttnProcessor`` (whose rotary function
    is local to its ``__call__`` and cannot be imported). Wan's tables repeat
    each angle twice, so the even columns of cos and the odd ones of sin hold
    one value per pair.
    """
    even, odd = hidden_states.unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = freqs_cos[..., 0::2], freqs_sin[..., 1::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(hidden_states)


class ContextWindowAttnProcessor:
    """Self-attention processor for ``WanAttention`` with AnyRecon's context window.

    A drop-in replacement for diffusers' ``WanAttnProcessor`` on the
    self-attention (``attn1``) of each block: same projections, QK norm and
    RoPE, then ``context_window_attention``. ``tokens_per_frame`` must be set
    before each forward (``AnyReconTransformer`` sets it from the latent
    size); the frame count follows from the sequence length.
    """

    # Read by diffusers' set_attention_backend; this processor always uses torch SDPA.
    _attention_backend = None
    _parallel_config = None

    def __init__(self, block_frames: int = 8, window: int = 1, batched: bool = False):
        _check_layout(1, block_frames, window)
        self.block_frames = block_frames
        self.window = window
        # Batched: :func:`batched_context_window_attention`, the same result
        # without a loop over blocks, which exporters trace (a dynamic graph
        # cannot unroll a loop whose length depends on the frame count).
        self.batched = batched
        self.tokens_per_frame = None

    def __call__(self, attn, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor = None, attention_mask: torch.Tensor = None,
                 rotary_emb: tuple = None) -> torch.Tensor:
        """Return the attention output of ``attn`` for (B, N, dim) ``hidden_states``."""
        if encoder_hidden_states is not None or attn.is_cross_attention:
            raise ValueError('ContextWindowAttnProcessor is for self-attention only')
        if attention_mask is not None:
            raise ValueError('ContextWindowAttnProcessor builds its own sparsity; '
                             'it takes no attention_mask')
        if self.tokens_per_frame is None:
            raise RuntimeError('set tokens_per_frame before the forward')
        query, key, value = _self_attention_projections(attn, hidden_states)
        query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        if rotary_emb is not None:
            query = apply_wan_rotary(query, *rotary_emb)
            key = apply_wan_rotary(key, *rotary_emb)
        # (B, N, heads, D) -> SDPA's (B, heads, N, D) and back.
        attended = self.attend(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2))
        attended = attended.transpose(1, 2).flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](attended))

    def attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Attend (B, heads, N, D) queries to keys and values under the context window."""
        if self.batched:
            return batched_context_window_attention(query, key, value, self.tokens_per_frame,
                                                    self.block_frames, self.window)
        return context_window_attention(query, key, value, self.tokens_per_frame,
                                        self.block_frames, self.window)


def _self_attention_projections(attn, hidden_states: torch.Tensor):
    if getattr(attn, 'fused_projections', False):
        return attn.to_qkv(hidden_states).chunk(3, dim=-1)
    return attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)


def _gather(tensor: torch.Tensor, spans: list, tokens_per_frame: int) -> torch.Tensor:
    # A single span is a view; only a separate block 0 costs a copy.
    parts = [tensor[..., _token_slice(span, tokens_per_frame), :] for span in spans]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-2)


def _token_slice(span: tuple, tokens_per_frame: int) -> slice:
    return slice(span[0] * tokens_per_frame, span[1] * tokens_per_frame)


def _frame_span(first_block: int, stop_block: int, block_frames: int, frames: int) -> tuple:
    return first_block * block_frames, min(stop_block * block_frames, frames)


def _check_layout(frames: int, block_frames: int, window: int) -> None:
    if frames < 1 or block_frames < 1 or window < 0:
        raise ValueError(f'need frames >= 1, block_frames >= 1 and window >= 0, got '
                         f'{frames}, {block_frames}, {window}')
