"""Matrix-product precision of the networks: ``agent.precision=fp32|bf16|tf32``.

* ``fp32``: every product in float32 (today's numbers, bit for bit).
* ``bf16``: the hidden layers' products in bfloat16, on bf16 copies of the float32 master weights;
  activations between hidden layers stay bf16. Inputs of the output layers (Q value, policy mean and
  log-std) go back to float32, so Q values, log-probabilities, losses, targets, the temperature, the
  weights and the optimizer state are all float32. A bf16 copy is made once per change of its weight
  (the weight's version counter says when), not once per use: an update casts the critic twice (before
  and after its step), the policy once, the target critic only after a soft update. Layers narrower
  than ``BF16_MIN_WIDTH`` stay float32: their bf16 products gain less than the casts cost.
* ``tf32``: float32 weights and activations, products on TF32 tensor cores (CUDA, Ampere or newer).
"""

from __future__ import annotations

import torch

PRECISIONS = ("fp32", "bf16", "tf32")
#: Hidden layers of fewer units keep float32 products under ``bf16`` (see ``make bench``'s precision rows).
BF16_MIN_WIDTH = 256


class MatmulPrecision:
    """How one network's hidden layers multiply: ``dtype`` None is float32 as is."""

    def __init__(self, dtype: torch.dtype | None = None, min_width: int = BF16_MIN_WIDTH):
        self.dtype, self.min_width = dtype, min_width
        self._copies: dict[int, tuple[tuple[int, bool], torch.Tensor]] = {}
        self.casts = 0  # copies made so far (tests and benchmarks count them)

    def lowers(self, width: int) -> bool:
        """Whether a hidden layer of ``width`` units computes in ``dtype``."""
        return self.dtype is not None and width >= self.min_width

    def cast(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype)

    def weight(self, p: torch.Tensor) -> torch.Tensor:
        """The ``dtype`` copy of ``p``, made again only after ``p`` changed (in place) or its grad flag did.

        The copy stays connected to ``p`` in autograd, so every backward through it accumulates a float32
        gradient into ``p.grad``; casting it is not differentiated twice.
        """
        if torch.compiler.is_compiling():
            return p.to(self.dtype)  # inside a compiled graph the cast fuses into the product
        key = (p._version, p.requires_grad)
        hit = self._copies.get(id(p))
        if hit is not None and hit[0] == key:
            return hit[1]
        with torch.enable_grad():
            copy = p.to(self.dtype)
        self._copies[id(p)] = (key, copy)
        self.casts += 1
        return copy

    def __deepcopy__(self, memo: dict) -> MatmulPrecision:
        """A copied network (a target network, a fresh draw for a soft reset) gets its own, empty cache."""
        return MatmulPrecision(self.dtype, self.min_width)

    def __getstate__(self) -> dict:
        return {"dtype": self.dtype, "min_width": self.min_width}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["dtype"], state["min_width"])


FP32 = MatmulPrecision()


def matmul_precision(precision: str) -> MatmulPrecision:
    """A fresh per-network policy for ``agent.precision`` (each network caches its own copies)."""
    if precision not in PRECISIONS:
        raise ValueError(f"agent.precision={precision!r} is not one of: {', '.join(PRECISIONS)}")
    return MatmulPrecision(torch.bfloat16 if precision == "bf16" else None)


def precision_problem(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` cannot run fast on ``device`` (one line), or None if it can."""
    if precision not in PRECISIONS:
        return f"agent.precision={precision!r} is not valid; choose one of: {', '.join(PRECISIONS)}"
    if precision == "bf16":
        if device.type == "cuda":
            if not torch.cuda.is_bf16_supported(including_emulation=False):
                return (f"agent.precision=bf16 but {torch.cuda.get_device_name(device)} has no native bf16 "
                        "arithmetic; use agent.precision=fp32 (or tf32 on Ampere and newer)")
        elif device.type == "cpu":
            if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
                return ("agent.precision=bf16 but this CPU has neither AVX512-BF16 nor AMX-BF16, so bf16 products "
                        "would be emulated and slower than fp32; use agent.precision=fp32")
    if precision == "tf32":
        if device.type != "cuda":
            return (f"agent.precision=tf32 needs a CUDA GPU with TF32 tensor cores (Ampere or newer); this run is on "
                    f"{device.type}: use agent.precision=fp32 (or bf16 on a CPU with AVX512-BF16/AMX)")
        if torch.cuda.get_device_capability(device)[0] < 8:
            return (f"agent.precision=tf32 needs compute capability 8.0 or newer; {torch.cuda.get_device_name(device)} "
                    "has none; use agent.precision=fp32")
    return None


def configure_matmul(precision: str, device: torch.device) -> None:
    """TF32 is a process-wide switch of CUDA's float32 products: on for ``tf32``, off otherwise."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
