"""How fast an update could be if everything but its matrix products were free: the hardware's limit.

``make bench`` reports a ratio of updates/s against the reference update; this module says how far
that ratio could go on this machine. It records every matrix product one update launches (forward,
backward and all, with their shapes, strides and dtypes), replays them alone on fresh tensors and
times them. ``reference time / products time`` is then the most any rewrite that keeps those products
(same sizes, same precision, same kernels) can gain: a target above it needs other hardware or
other arithmetic, not less overhead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
#: The products a linear layer, an ensemble layer and their gradients reach the kernels as (any overload:
#: compiled code calls the ``out=`` ones).
PRODUCTS = (aten.mm, aten.bmm, aten.addmm, aten.baddbmm)


@dataclass(frozen=True)
class Product:
    """One recorded product: the op, and for each argument its layout or its (non-tensor) value."""

    op: Any
    args: tuple
    kwargs: tuple

    @property
    def flops(self) -> int:
        """Multiply-adds times two, from the two multiplied operands' shapes."""
        a, b = [x for x in self.args if isinstance(x, TensorSpec)][-2:]
        batch = a.size[0] if len(a.size) == 3 else 1
        return 2 * batch * a.size[-2] * a.size[-1] * b.size[-1]


@dataclass(frozen=True)
class TensorSpec:
    """A tensor argument's layout: enough to make a fresh one that a kernel treats the same way."""

    size: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    def make(self) -> torch.Tensor:
        """Random values in the same layout (expanded and transposed views included)."""
        extent = 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True)) if all(self.size) else 0
        base = torch.empty(extent, dtype=self.dtype, device=self.device)
        base = base.normal_() if base.is_floating_point() else base.zero_()
        return base.as_strided(self.size, self.stride)


def _spec(x: Any) -> Any:
    return TensorSpec(tuple(x.shape), tuple(x.stride()), x.dtype, x.device) if isinstance(x, torch.Tensor) else x


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.products: list[Product] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket in PRODUCTS:
            self.products.append(Product(func, tuple(_spec(a) for a in args),
                                         tuple((k, _spec(v)) for k, v in kwargs.items())))
        return func(*args, **kwargs)


def record_products(fn: Callable[[], Any]) -> list[Product]:
    """The products one call of ``fn`` launches, in order (those of its backward passes included)."""
    with _Recorder() as rec:
        fn()
    return rec.products


def replay(products: list[Product]) -> Callable[..., None]:
    """A function that runs ``products`` back to back on fresh operands of the recorded layouts.

    Time it as you time the update (same loop, interleaved) so that a slow phase of the machine hits both.
    """
    calls = [(p.op, [a.make() if isinstance(a, TensorSpec) else a for a in p.args],
              {k: v.make() if isinstance(v, TensorSpec) else v for k, v in p.kwargs}) for p in products]

    def run(*_: Any) -> None:
        for op, args, kwargs in calls:
            op(*args, **kwargs)

    return run
