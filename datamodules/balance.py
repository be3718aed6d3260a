"""Balanced labels by rejection: draw scenes in pools and keep them where their label is wanted.

`balanced(generator, batch, draw, label, want)` asks for a batch whose sample `i` has label
`want[i]`: it draws pools of candidates with `draw(generator, n)`, labels them with `label(...)`,
and fills each still-open slot with an unused candidate of the wanted label — vectorised, no
per-sample loop. Pools grow with how rare the scarcest wanted label is, so a 7 % label costs a few
rounds, not hundreds. The result is exact (labels are recomputed, never assumed).
"""
from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor

from penguin.game.scene import Scene

Items = Union[Scene, Tensor, tuple]


def balanced(generator: torch.Generator, batch: int, draw: Callable[[torch.Generator, int], Items],
             label: Callable[[Items], Tensor], want: Tensor, max_rounds: int = 200) -> Items:
    """A batch of `draw`n items whose labels equal `want` (`[batch]` long).

    Items are a `Scene`, a tensor, or a tuple of those (e.g. a scene and a line angle per sample).
    """
    parts: list[Items] = []
    chosen = torch.full((batch,), -1, dtype=torch.long)  # index into the concatenated pools
    open_ = torch.ones(batch, dtype=torch.bool)
    offset, pool = 0, batch
    for _ in range(max_rounds):
        items = draw(generator, pool)
        got = label(items).cpu()
        for value in want[open_].unique().tolist():
            slots = (open_ & (want == value)).nonzero().squeeze(1)
            have = (got == value).nonzero().squeeze(1)
            n = min(len(slots), len(have))
            chosen[slots[:n]] = offset + have[:n]
            open_[slots[:n]] = False
        parts.append(items)
        offset += pool
        if not open_.any():
            return _take(_cat(parts), chosen)
        rarest = min(float((got == v).float().mean()) for v in want[open_].unique().tolist())
        pool = min(64 * batch, max(batch, int(2 * open_.sum().item() / max(rarest, 1 / (64 * batch)))))
    raise RuntimeError("balanced sampling did not converge: a wanted label is (almost) never drawn")


def _cat(parts: list[Items]) -> Items:
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_cat([p[k] for p in parts]) for k in range(len(first)))
    if isinstance(first, Scene):
        return Scene.cat(parts)
    return torch.cat(parts)


def _take(items: Items, index: Tensor) -> Items:
    if isinstance(items, tuple):
        return tuple(_take(x, index) for x in items)
    return items[index]
