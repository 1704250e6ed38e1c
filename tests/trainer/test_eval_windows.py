"""Sliding-window evaluation: every target scored exactly once, plain evaluation at stride = T, exact bytes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.trainer.stackload import TinyLM, byte_luts, hparams, load_stack, runtime, validation_set

S = load_stack()
VOCAB = 64


def val_tokens(n: int, seed: int = 0) -> torch.Tensor:
    tokens = torch.randint(1, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))
    tokens[::37] = 0  # document boundaries (BOS-like, zero bytes)
    return tokens


@pytest.mark.parametrize(
    "n,t,s",
    [
        (64, 16, 16),
        (100, 16, 4),
        (101, 16, 5),
        (17, 16, 3),
        (10, 16, 4),
        (16, 16, 1),
        (1000, 64, 7),
        (129, 32, 32),
    ],
)
def test_every_target_is_scored_exactly_once_with_enough_context(n: int, t: int, s: int) -> None:
    counts = torch.zeros(n, dtype=torch.long)
    for start, length, first in S.sliding_windows(n, t, s):
        assert length == min(t, n) and 0 <= start and start + length <= n
        counts[start + first : start + length] += 1
        if start > 0:  # targets after the first window see at least T - S earlier tokens
            assert first >= t - s
    assert (counts == 1).all()


def test_stride_outside_one_to_seq_len_is_rejected_by_name() -> None:
    with pytest.raises(S.ConfigError, match="EVAL_STRIDE must be in 1..16 .*got 17"):
        S.sliding_windows(100, 16, 17)
    with pytest.raises(S.ConfigError, match="EVAL_STRIDE=4096 must be at most TRAIN_SEQ_LEN=2048"):
        hparams(eval_stride=4096)


def plain_eval(model: TinyLM, tokens: torch.Tensor, seq_len: int, luts) -> tuple[float, float]:
    """Non-overlapping sequences, written out by hand: mean NLL and bits per byte."""
    x, y = tokens[:-1].view(-1, seq_len), tokens[1:].view(-1, seq_len)
    with torch.no_grad():
        nll = F.cross_entropy(model.forward_logits(x).flatten(0, 1), y.flatten(), reduction="sum").item()
    base, space, boundary = luts.base_bytes, luts.has_leading_space, luts.is_boundary
    n_bytes = sum(
        int(base[b]) + int(space[b] and not boundary[a])
        for a, b in zip(x.flatten().tolist(), y.flatten().tolist())
    )
    return nll / y.numel(), nll / (math.log(2) * n_bytes)


def test_stride_equal_to_sequence_length_is_plain_evaluation() -> None:
    model, luts, tokens = TinyLM(VOCAB), byte_luts(VOCAB), val_tokens(8 * 32 + 1)
    for stride in (0, 32):  # 0 means the sequence length
        result = S.evaluate(model.forward_logits, validation_set(tokens, 32, luts), runtime(), 3, stride)
        loss, bpb = plain_eval(model, tokens, 32, luts)
        assert result.tokens == 8 * 32
        assert result.val_loss == pytest.approx(loss, rel=1e-6) and result.val_bpb == pytest.approx(
            bpb, rel=1e-6
        )


def test_smaller_stride_scores_the_same_tokens_and_bytes() -> None:
    model, val = TinyLM(VOCAB), validation_set(val_tokens(301), 32, byte_luts(VOCAB))
    full = S.evaluate(model.forward_logits, val, runtime(), 32, stride=32)
    slid = S.evaluate(model.forward_logits, val, runtime(), 4, stride=8)
    assert slid.tokens == full.tokens == 300 and slid.bytes == full.bytes
    assert slid.val_loss != full.val_loss


def test_byte_count_follows_the_leading_space_rule() -> None:
    base = torch.tensor([0, 1, 3, 2], dtype=torch.int16)
    space = torch.tensor([False, False, True, True])
    boundary = torch.tensor([True, False, False, False])
    prev = torch.tensor([0, 1, 2, 0, 3])
    tgt = torch.tensor([2, 3, 3, 1, 0])
    # piece bytes + 1 for a leading space unless it follows a boundary token (start of a document)
    assert S.ByteLuts(base, space, boundary).target_bytes(prev, tgt).tolist() == [3, 3, 3, 1, 0]


def test_rank_shares_add_up_to_the_whole() -> None:
    model, val = TinyLM(VOCAB), validation_set(val_tokens(257), 32, byte_luts(VOCAB))
    windows = S.sliding_windows(256, 32, 16)
    whole = S.score_windows(model.forward_logits, val, windows, runtime(), 5)
    # no process group: each "rank" returns the sums of its own share of the windows
    parts = [S.score_windows(model.forward_logits, val, windows, runtime(r, 3, distributed=False), 5)
             for r in range(3)]
    assert torch.allclose(sum(parts), whole, rtol=1e-12) and whole[1] == 256


def test_temperature_is_applied_to_the_full_softmax() -> None:
    logits = torch.randn(2, 5, VOCAB, generator=torch.Generator().manual_seed(0)) * 3
    targets = torch.randint(VOCAB, (2, 5), generator=torch.Generator().manual_seed(1))
    fixed = S.token_nll(logits, targets, temperature=0.9)
    assert torch.allclose(
        fixed, -torch.log_softmax(logits / 0.9, -1).gather(-1, targets[..., None])[..., 0], atol=1e-5
    )
    adaptive = S.token_nll(logits, targets, temperature=0.98, adaptive=True)
    entropy = -(torch.softmax(logits, -1) * torch.log_softmax(logits, -1)).sum(-1, keepdim=True)
    t = (1 - 0.02 * (1 - entropy / math.log(VOCAB))).clamp(0.9, 1.05)
    assert torch.allclose(
        adaptive, -torch.log_softmax(logits / t, -1).gather(-1, targets[..., None])[..., 0], atol=1e-5
    )
