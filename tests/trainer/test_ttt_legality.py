"""Score-first TTT: no score depends on a token after its chunk, training only sees scored targets, one pass."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.trainer.stackload import TinyLM, byte_luts, hparams, load_stack, runtime, validation_set

S = load_stack()
VOCAB, T, CHUNK = 64, 16, 48
TTT = {  # TTT settings of the tests: chunks of 48 targets, windows of 16 with stride 4
    "eval_stride": 4,
    "eval_batch_seqs": 4,
    "ttt_enabled": True,
    "ttt_chunk_tokens": CHUNK,
    "ttt_epochs": 2,
    "ttt_lr": 3e-2,
    "ttt_last_blocks": 1,
    "ttt_batch_seqs": 2,
}


def val_tokens(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))


def run_ttt(tokens: torch.Tensor, model: TinyLM | None = None, rt=None, **overrides: object):
    model = model or TinyLM(VOCAB)
    val = validation_set(tokens, T, byte_luts(max(VOCAB, int(tokens.max()) + 1)))
    return S.eval_ttt(
        model, model.forward_logits, model, val, hparams(**{**TTT, **overrides}), rt or runtime()
    )


def test_scores_up_to_chunk_k_ignore_every_later_token() -> None:
    tokens = val_tokens(6 * CHUNK + 11)
    k = 2
    changed = tokens.clone()
    changed[(k + 1) * CHUNK + 1 :] = val_tokens(len(tokens), seed=1)[
        (k + 1) * CHUNK + 1 :
    ]  # targets of chunks > k
    _, chunks_a = run_ttt(tokens)
    _, chunks_b = run_ttt(changed)
    assert torch.equal(chunks_a[: k + 1], chunks_b[: k + 1])
    assert not torch.equal(chunks_a[k + 1 :, 0], chunks_b[k + 1 :, 0])
    assert chunks_a[:, 1].sum() == len(tokens) - 1  # one pass: every target scored exactly once


def test_training_only_sees_targets_that_were_already_scored() -> None:
    tokens = torch.arange(5 * CHUNK + 7)  # token value = position, so batches reveal what they read
    model = TinyLM(vocab=512)
    scored_through, trained = [-1], []

    def forward_logits(ids: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():  # scoring: a window's last target is one past its last input
            scored_through[0] = max(scored_through[0], int(ids.max()) + 1)
        return model.forward_logits(ids)

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert int(y.max()) <= scored_through[0], "trained on a target before scoring it"
        trained.append(int(y.max()))
        return model(x, y)

    val = validation_set(tokens, T, byte_luts(512))
    S.eval_ttt(model, forward_logits, loss_fn, val, hparams(**TTT), runtime())
    assert max(trained) == 5 * CHUNK  # through chunk 4; the last chunk (targets 240..245) is never trained on


def test_zero_learning_rate_gives_the_sliding_window_score() -> None:
    tokens = val_tokens(4 * CHUNK + 5)
    model = TinyLM(VOCAB)
    val = validation_set(tokens, T, byte_luts(VOCAB))
    sliding = S.evaluate(model.forward_logits, val, runtime(), TTT["eval_batch_seqs"], TTT["eval_stride"])
    total, _ = run_ttt(tokens, ttt_lr=0.0)
    assert total.tokens == sliding.tokens and total.bytes == sliding.bytes
    assert total.val_loss == pytest.approx(sliding.val_loss, rel=1e-9)


def test_adaptation_changes_later_chunks_and_restores_requires_grad() -> None:
    tokens = val_tokens(4 * CHUNK + 5)
    model = TinyLM(VOCAB)
    model.blocks[0].attn_scale.requires_grad_(False)  # a caller's own freeze must survive TTT
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _, adapted = run_ttt(tokens, model=model)
    _, still = run_ttt(tokens, ttt_lr=0.0)
    assert torch.equal(adapted[0], still[0]) and not torch.equal(adapted[1:, 0], still[1:, 0])
    assert not model.blocks[0].attn_scale.requires_grad and model.tok_emb.weight.requires_grad
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(n.startswith("blocks.2.") or "scale" in n for n in moved)
    assert not any(
        n.startswith(("blocks.0.attn.", "blocks.0.mlp.", "blocks.1.attn.", "blocks.1.mlp.", "tok_emb"))
        for n in moved
    )


def test_temperature_lives_inside_the_single_scoring_pass() -> None:
    tokens = val_tokens(4 * CHUNK + 5)
    calls = [0]
    model = TinyLM(VOCAB)

    def counting_forward(ids: torch.Tensor) -> torch.Tensor:
        calls[0] += int(not torch.is_grad_enabled())
        return model.forward_logits(ids)

    plain, _ = run_ttt(tokens)
    hp = hparams(**{**TTT, "eval_batch_seqs": 1, "eval_temperature": 0.98, "eval_adaptive_temperature": True})
    total, _ = S.eval_ttt(
        model, counting_forward, model, validation_set(tokens, T, byte_luts(VOCAB)), hp, runtime()
    )
    assert calls[0] == len(
        S.sliding_windows(len(tokens) - 1, T, 4)
    )  # each window forwarded once, for scoring
    assert total.tokens == plain.tokens and total.val_loss != plain.val_loss


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ttt_worker(rank: int, world_size: int, port: int, out: mp.SimpleQueue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        total, chunks = run_ttt(val_tokens(4 * CHUNK + 5), rt=runtime(rank, world_size), ttt_batch_seqs=8)
        out.put((rank, total.val_loss, chunks.tolist()))
    except BaseException:
        dist.destroy_process_group()
        raise
    S.close_distributed()  # the trainer's end of a run: exits before gloo threads can abort finalization


def test_two_gloo_ranks_give_the_single_process_result() -> None:
    single, single_chunks = run_ttt(
        val_tokens(4 * CHUNK + 5), ttt_batch_seqs=8
    )  # one step per epoch either way
    # spawn, not fork: forking after torch's OpenMP pool has run deadlocks the children (seen in CI)
    out = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(_ttt_worker, args=(2, _free_port(), out), nprocs=2, start_method="spawn")
    results = {
        r: (loss, torch.tensor(chunks, dtype=torch.float64)) for r, loss, chunks in (out.get(), out.get())
    }
    assert results[0][0] == pytest.approx(single.val_loss, rel=1e-5)
    assert torch.allclose(results[0][1], single_chunks, rtol=1e-5) and torch.equal(
        results[0][1], results[1][1]
    )
