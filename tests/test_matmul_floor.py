"""benchmarks/matmul_floor.py: the matrix products of an update, recorded and replayed alone."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from matmul_floor import TensorSpec, record_products, replay  # noqa: E402

aten = torch.ops.aten


def test_products_of_a_forward_and_its_backward_are_recorded_with_their_flops():
    layer = torch.nn.Linear(5, 7)
    x = torch.randn(3, 5)
    products = record_products(lambda: layer(x).sum().backward())
    # forward: bias + x @ W^T; backward: dW = grad^T @ x (no grad for x, which needs none)
    assert [p.op.overloadpacket for p in products] == [aten.addmm, aten.mm]
    assert [p.flops for p in products] == [2 * 3 * 5 * 7, 2 * 7 * 3 * 5]
    assert layer.weight.grad is not None  # the recorded call really ran


def test_batched_products_count_every_member():
    w = torch.randn(2, 4, 6, requires_grad=True)
    x = torch.randn(8, 4)
    products = record_products(lambda: torch.bmm(x.unsqueeze(0).expand(2, -1, -1), w).sum().backward())
    assert products[0].op.overloadpacket is aten.bmm
    assert products[0].flops == 2 * 2 * 8 * 4 * 6


def test_replay_rebuilds_expanded_and_transposed_layouts():
    a = torch.randn(4, 3).t()  # transposed view
    b = torch.randn(1, 4, 5).expand(2, -1, -1)  # stride 0 in the batch dimension
    products = record_products(lambda: (a @ torch.randn(4, 5), torch.bmm(torch.randn(2, 3, 4), b)))
    specs = [s for p in products for s in p.args if isinstance(s, TensorSpec)]
    assert (a.stride() in [s.stride for s in specs]) and (b.stride() in [s.stride for s in specs])
    for spec in specs:
        made = spec.make()
        assert (tuple(made.shape), made.stride(), made.dtype) == (spec.size, spec.stride, spec.dtype)
        assert torch.isfinite(made).all()
    replay(products)()  # runs every recorded product on the rebuilt operands


def test_nothing_else_is_recorded():
    x = torch.randn(3, 3)
    assert record_products(lambda: (x.exp() + x).relu().sum()) == []
