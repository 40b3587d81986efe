"""Seeded inputs for the checks: every learner faces the same cases, built fresh per check."""

from __future__ import annotations

import torch

FLOATS = (torch.float32, torch.float64)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(seed: int, *shape: int, dtype: torch.dtype = torch.float32, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, generator=generator(seed), dtype=torch.float64) * scale).to(dtype)


def qkv(
    seed: int,
    batch: tuple[int, ...] = (),
    l_q: int = 4,
    l_k: int = 5,
    d_k: int = 8,
    d_v: int = 6,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries ``(*batch, l_q, d_k)``, keys ``(*batch, l_k, d_k)`` and values ``(*batch, l_k, d_v)``."""
    g = generator(seed)
    return tuple(
        torch.randn(*batch, length, dim, generator=g, dtype=torch.float64).to(dtype)
        for length, dim in ((l_q, d_k), (l_k, d_k), (l_k, d_v))
    )


def random_mask(seed: int, *shape: int, keep: float = 0.6) -> torch.Tensor:
    """A boolean mask (True = may attend) with every row keeping at least one key."""
    mask = torch.rand(*shape, generator=generator(seed)) < keep
    mask[..., 0] |= ~mask.any(dim=-1)
    return mask


def shape_text(*tensors: torch.Tensor, names: str = "q k v") -> str:
    return (
        ", ".join(f"{name} {tuple(t.shape)}" for name, t in zip(names.split(), tensors))
        + f" {dtype_text(tensors[0].dtype)}"
    )


def dtype_text(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def mask_text(mask: torch.Tensor | None) -> str:
    return "no mask" if mask is None else f"mask {dtype_text(mask.dtype)} {tuple(mask.shape)}"
