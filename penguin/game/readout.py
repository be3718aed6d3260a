"""Read a scene back out of rendered images: where are the agent and the gold, which way is it facing.

`read_out(images)` and its differentiable twin `soft_read_out(images, sharpness=...)` take RGB images
`[B, 3, S, S]` in `[0, 1]` (whole-room views, as `render` draws them) and return a `ReadOut`:

| field                        | shape  | meaning                                                       |
|------------------------------|--------|---------------------------------------------------------------|
| `agent`, `gold`              | `[B, 2]` | centroid `(x, y)` of the body (green ∪ red) / gold pixels, room units |
| `heading`                    | `[B]`  | direction body centroid → eye centroid, radians in `[0, 2π)`  |
| `agent_radius`, `gold_radius`| `[B]`  | `sqrt(area / π)`, room units                                  |
| `agent_area`, `eye_area`, `gold_area` | `[B]` | mask mass in pixels (a presence weight)               |
| `agent_present`, `eye_present`, `gold_present` | `[B]` bool | mass of at least `MIN_AREA` pixels        |

An absent object reads as the room centre with radius 0 (and heading 0 without an eye), so the
outputs stay finite; use the presence masks or areas to weight losses.

Used by the read-out tasks (`readout_closer`, `readout_further`, `readout_gold_upper_left`,
frameworks that score the read-out of a predicted image instead of its pixels) and by tests; kept
and tested ahead of them.

How the colour masks work. Write a pixel as `r = R − B`, `g = G − B`: white and black (and every
grey, i.e. walls and their anti-aliased edges) give `r = g = 0`; green gives `g = 1`; red `r = 1`;
gold `(r, g) = (1, 200/255)`; the blue overlays give negative values. Blends of one colour with
white or black scale `(r, g)` by the coverage, so the masks below are linear in coverage for the
edges that matter:

- gold colour: `r − 4·|g − (200/255)·r|`, the amount on the gold ray;
- gold: the gold colour, faded out within one pixel of a clearly red or green pixel
  (`|g − (200/255)·r|` above 0.2 there) — a red/green blend at the eye's rim has exactly the gold
  colour for one mixing ratio, and the agent around it is what tells them apart (gold touching the
  agent is therefore partly missed);
- body (green ∪ red, the eye lies inside the body): `r + g − 2·gold`;
- eye (red): `r − gold colour` — gold-coloured rim pixels never count as eye, so gold touching the
  agent cannot pull the heading (the eye loses a little of its rim symmetrically instead).

`read_out` clamps each mask to `[0, 1]`; on clean renders positions come back within about a pixel
(the tests hold 224-px renders to 1.5 px, heading to 3°; at 64 px the 2.6-px eye gives the heading
to about 10°). `soft_read_out` passes each clamped mask through `sigmoid(sharpness · (m − 0.5))`,
which keeps a gradient on the background and inside objects as well as on their edges — it serves
the "imagine … closer / further" losses. Both take only the image; for a single gold per image (the
one-gold tasks) `gold` is that coin, with several it is their area-weighted mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MIN_AREA = 0.25  # pixels; an object below this mass counts as absent

_GOLD_GREEN = 200.0 / 255.0
_GOLD_SELECTIVITY = 4.0  # how fast the gold mask falls off the gold colour ray
# Gold fades out next to pixels this far off the gold ray (|g − (200/255)·r|): red gives 0.78,
# green 1, while blue overlays blended into a coin's rim stay below 0.18.
_AGENT_FADE_START, _AGENT_FADE_FULL = 0.2, 0.5


@dataclass(frozen=True)
class ReadOut:
    """Positions, sizes and heading read from images (see the module docstring)."""

    agent: Tensor
    heading: Tensor
    gold: Tensor
    agent_radius: Tensor
    gold_radius: Tensor
    agent_area: Tensor
    eye_area: Tensor
    gold_area: Tensor
    agent_present: Tensor
    eye_present: Tensor
    gold_present: Tensor


def read_out(images: Tensor) -> ReadOut:
    """Read agent, heading and gold from images `[B, 3, S, S]` with clamped colour masks."""
    return _read(images, None)


def soft_read_out(images: Tensor, sharpness: float = 40.0) -> ReadOut:
    """Like `read_out`, with sigmoid colour masks so gradients also reach background and interior pixels.

    `sharpness` sets the sigmoid's slope at coverage 0.5; the default keeps the mass leaking from
    the white background (≈ S²·e^(−sharpness/2)) far below a pixel at 224 px.
    """
    if not (isinstance(sharpness, (int, float)) and math.isfinite(sharpness) and sharpness > 0):
        raise ValueError(f"sharpness: expected a positive number, got {sharpness!r}")
    return _read(images, sharpness)


def _read(images: Tensor, sharpness: float | None) -> ReadOut:
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise ValueError("images: expected a float tensor [B, 3, S, S], got "
                         f"{images.dtype if isinstance(images, Tensor) else type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3] or images.shape[2] < 1:
        raise ValueError(f"images: expected shape [B, 3, S, S] (square RGB), got {list(images.shape)}")
    size = images.shape[-1]
    red, green, blue = images.unbind(1)
    r, g = red - blue, green - blue

    # Linear (coverage-proportional) masks, squashed only at the end: gold must cancel out of the
    # body mask exactly, edge pixels included.
    off_gold = (g - _GOLD_GREEN * r).abs()
    near_agent = F.max_pool2d(off_gold.unsqueeze(1), 3, stride=1, padding=1).squeeze(1)
    gold_coloured = (r - _GOLD_SELECTIVITY * off_gold).clamp(0, 1)
    fade = (_AGENT_FADE_FULL - near_agent) / (_AGENT_FADE_FULL - _AGENT_FADE_START)
    gold = gold_coloured * fade.clamp(0, 1)
    body = (r + g - 2 * gold).clamp(0, 1)
    eye = (r - gold_coloured).clamp(0, 1)
    if sharpness is not None:
        gold, body, eye = (torch.sigmoid(sharpness * (m - 0.5)) for m in (gold, body, eye))

    centres = (torch.arange(size, device=images.device, dtype=images.dtype) + 0.5) / size
    body_c, body_area = _centroid(body, centres)
    eye_c, eye_area = _centroid(eye, centres)
    gold_c, gold_area = _centroid(gold, centres)
    facing = eye_c - body_c
    heading = torch.remainder(torch.atan2(facing[:, 1], facing[:, 0]), 2 * math.pi)
    eye_present = eye_area >= MIN_AREA
    return ReadOut(
        agent=body_c,
        heading=torch.where(eye_present & (body_area >= MIN_AREA), heading, torch.zeros_like(heading)),
        gold=gold_c,
        agent_radius=torch.sqrt(body_area.clamp(min=1e-12) / math.pi) / size,
        gold_radius=torch.sqrt(gold_area.clamp(min=1e-12) / math.pi) / size,
        agent_area=body_area, eye_area=eye_area, gold_area=gold_area,
        agent_present=body_area >= MIN_AREA, eye_present=eye_present, gold_present=gold_area >= MIN_AREA,
    )


def _centroid(mask: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """Centroid `[B, 2]` (room units; the room centre when empty) and mass `[B]` (pixels) of masks `[B, S, S]`."""
    area = mask.sum((1, 2))
    x = (mask.sum(1) * centres).sum(1)
    y = (mask.sum(2) * centres).sum(1)
    # A tiny pull towards the centre keeps empty masks finite without moving real ones measurably.
    eps = 1e-6
    return torch.stack([(x + 0.5 * eps) / (area + eps), (y + 0.5 * eps) / (area + eps)], 1), area
