from __future__ import annotations

import itertools

import pytest
import torch

from stvsr.layers.swin3d import (
    SwinLayer3D,
    WindowAttention3D,
    compute_shift_mask,
    effective_window,
    relative_position_index_3d,
)


def test_relative_position_index_naive() -> None:
    win = (2, 3, 2)
    idx = relative_position_index_3d(win)
    toks = list(itertools.product(*(range(w) for w in win)))
    for a, (da, ha, wa) in enumerate(toks):
        for b, (db, hb, wb) in enumerate(toks):
            want = (da - db + 1) * 5 * 3 + (ha - hb + 2) * 3 + (wa - wb + 1)
            assert int(idx[a, b]) == want


def test_effective_window_uses_less_or_equal() -> None:
    assert effective_window((3, 10, 10), (3, 7, 7), (1, 3, 3)) == ((3, 7, 7), (0, 3, 3))
    assert effective_window((4, 6, 8), (3, 7, 7), (1, 3, 3)) == ((3, 6, 7), (1, 0, 3))


def test_shift_mask_naive() -> None:
    padded, win, shift = (4, 6, 6), (2, 3, 3), (1, 0, 1)
    mask = compute_shift_mask(padded, win, shift)

    def region(i: int, n: int, w: int, s: int) -> int:
        if s == 0:
            return 0
        return 0 if i < n - w else (1 if i < n - s else 2)

    windows = list(itertools.product(range(0, 4, 2), range(0, 6, 3), range(0, 6, 3)))
    assert mask.shape == (len(windows), 18, 18)
    for k, (d0, h0, w0) in enumerate(windows):
        toks = [(d0 + i, h0 + j, w0 + m) for i, j, m in itertools.product(range(2), range(3), range(3))]
        labels = [tuple(region(p, n, w, s) for p, n, w, s in zip(t, padded, win, shift, strict=True)) for t in toks]
        for a, b in itertools.product(range(18), repeat=2):
            assert float(mask[k, a, b]) == (0.0 if labels[a] == labels[b] else -100.0)


def test_window_attention_naive_float64() -> None:
    torch.manual_seed(0)
    attn = WindowAttention3D(8, (2, 2, 2), num_heads=2).double()
    x = torch.randn(3, 8, 8, dtype=torch.float64)
    out = attn(x, (2, 2, 2))
    qkv = x @ attn.qkv.weight.T
    q, k, v = qkv[..., :8], qkv[..., 8:16], qkv[..., 16:]
    heads = []
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        logits = (q[..., sl] * 0.5) @ k[..., sl].transpose(1, 2)
        bias = attn.relative_position_bias_table[relative_position_index_3d((2, 2, 2)), h]
        heads.append(torch.softmax(logits + bias, -1) @ v[..., sl])
    want = attn.proj(torch.cat(heads, -1))
    assert torch.allclose(out, want, atol=1e-12)


def test_index_slice_quirk() -> None:
    torch.manual_seed(0)
    a = WindowAttention3D(4, (3, 4, 4), 1)
    b = WindowAttention3D(4, (3, 4, 4), 1, authors_index_slice=False)
    b.load_state_dict(a.state_dict())
    # shrinking in D alone: the sliced index equals the geometric one
    assert torch.equal(a._bias((2, 4, 4)), b._bias((2, 4, 4)))
    # shrinking in H: they differ (the authors' checkpoints were trained with the slice)
    assert not torch.equal(a._bias((3, 3, 4)), b._bias((3, 3, 4)))


@pytest.mark.parametrize("size", [(4, 8, 12), (3, 7, 7), (2, 5, 9)])
def test_layer_shapes_and_backward(size) -> None:
    torch.manual_seed(0)
    layer = SwinLayer3D(8, depth=2, num_heads=2, window_size=(2, 4, 4))
    x = torch.randn(2, 8, *size, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_layer_rejects_wrong_rank() -> None:
    with pytest.raises(ValueError, match="B, C, D, H, W"):
        SwinLayer3D(8, 1, 2, (2, 2, 2))(torch.rand(1, 8, 4, 4))
