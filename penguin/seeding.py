"""Seeds derived from coordinates: batch `s` on rank `r` is a pure function of `(seed, r, s, ...)`.

`derive_seed(*parts)` mixes integers (and strings, hashed stably — never Python's salted `hash`)
with SplitMix64 into one 63-bit seed, so neighbouring coordinates give unrelated streams and the
same coordinates give the same stream on every machine and every run. `generator_for(*parts)`
returns a CPU `torch.Generator` seeded that way.
"""
from __future__ import annotations

import zlib

import torch

_MASK = (1 << 64) - 1


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def derive_seed(*parts: int | str) -> int:
    state = 0x243F6A8885A308D3
    for part in parts:
        value = zlib.crc32(part.encode()) if isinstance(part, str) else int(part)
        state = _splitmix(state ^ (value & _MASK))
    return state >> 1


def generator_for(*parts: int | str) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(*parts))
