"""Batched rasteriser: `render(scene, size, **options)` turns a `Scene` into float RGB images `[B, 3, S, S]`.

What it draws (docs/game.md "Objects", "Rendering"), back to front:

| layer | shape | colour (RGB 0–255) |
|---|---|---|
| background | — | white 255, 255, 255 |
| agent body | disc, radius `AGENT_RADIUS` | green 0, 255, 0 |
| agent eye | disc, radius `EYE_RADIUS`, centre `EYE_OFFSET` ahead along θ | red 255, 0, 0 |
| walls | rectangles `(cx, cy, length, thickness, angle)` | black 0, 0, 0 |
| gold | discs, radius `GOLD_RADIUS` (every valid slot) | gold 255, 200, 0 |
| blue line | flat-ended bar of width `LINE_WIDTH` | blue 0, 0, 213 |
| corner markers | discs, radius `GOLD_RADIUS`, `CORNER_OFFSET` diagonally outside each wall corner | blue 0, 0, 255 |

Options — the fields of `View` (this module's record of "render this scene this way", declared
once; `OPTIONS` lists them). Each `hide_*`, `line_to_gold`, `line_mask` and `corners` is a Python
bool for the whole batch or a bool tensor `[B]` per sample; `render(scene, size, **options)` and
`View.of(scene, **options).render(size)` draw the same pixels:

- `hide_agent`, `hide_gold`, `hide_walls` leave that layer out ("imagine the room without …").
  Corner markers are an overlay and are still drawn around hidden walls.
- `line_to_gold`: the blue line from the agent's rim to the rim of `scene.first_gold()`, along the
  agent→gold direction (nothing when the two rims touch or the sample has no gold).
- `line_angle` φ and `line_length` ℓ (float or `[B]`, room units, given together): the blue line
  from the agent's rim along φ for ℓ, drawn where `line_mask` is true (default: everywhere) and
  ℓ > 0 (default ℓ = 0: no line).
- `corners`: the corner markers of every valid wall.
- `zoom_center` `[B, 2]` and `zoom_factor` (float or `[B]`, ≥ 1; given together): the view the
  camera would have if the room were `factor` times larger, cropped to `S × S` around the centre;
  the window (side `1 / factor` room units) is shifted to stay inside the room. It is rasterised
  directly at that scale, never as a giant image that is cropped. Factor 1 is the whole room.

Conventions (docs/game.md): the room is the unit square, x right, y down; pixel `(row i, col j)` covers
`[j/S, (j+1)/S] × [i/S, (i+1)/S]` (in the view window when zoomed), so row = y and col = x. Output
is float32 in `[0, 1]` on the scene's device.

Anti-aliasing: each shape's coverage of a pixel is `clamp(0.5 − d, 0, 1)` with `d` the signed
distance (in pixels) from the pixel centre to the shape's edge — one pixel of soft edge, which gives
sub-pixel positions a gradient the model can learn from. Rectangles multiply the coverages of their
two slabs (length and thickness), each the overlap of the pixel's span with the slab — away from
corners the same formula, capped for slabs thinner than a pixel — and for axis-aligned rectangles
(all side walls) that product is the exact box-filtered area. Layers are composited "over" in the
order above; coverages of overlapping walls add (clamped at 1).

Performance design (the point of this module: it runs for every training image, on CPU or GPU, with
no Python loop over samples; `python -m penguin.bench game` measures it, `bench/RESULTS.md` records it):

- Discs (body + eye, gold, markers) are evaluated only in a square window around each disc
  (`≤ 2r + 2` px, clipped to the image): flat indices into the output are computed per sample, the
  window is gathered (`index_select`), blended and scattered back (`index_copy_`). Windows are
  shifted to lie inside the image, so one sample's window never writes a pixel twice. Gold slots and
  markers are drawn one slot at a time (a loop over slots, not samples), so coins or markers that
  overlap composite exactly.
- Axis-aligned walls (the side walls, and interior walls at right angles) cover
  `cover_x(col) · cover_y(row)` each, so all of them together — plus the white background — are one
  batched matrix product `[S, W+1] @ [W+1, S]` per image, written straight into the output.
- Rotated rectangles (interior walls at any angle, the blue lines) are evaluated in strips: along
  their dominant image axis, each column (or row) gets a short run of pixels centred on the
  rectangle's mid-line, `≈ 2·(half thickness + 0.5)·√2 + 2` px long. Walls subtract their coverage
  from the wall layer with `index_add_`; lines blend like discs.
- The wall layer is a "keep" map `1 − coverage`, the same in all three channels (white background
  times walls); the agent window is then *multiplied* in (the agent lies under the walls), and gold
  and overlays are blended on top.
- Window sizes are batch-wide, so zoomed batches are rendered in groups whose factors lie within 2×
  of each other, straight into their rows of the output (a sample at factor 20 needs full-image
  windows, one at factor 1 a 25-px window at 224 px).
- Shapes entirely outside the view are skipped; per-sample flags that are the same for the whole
  batch take the bool path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Union

import torch
from torch import Tensor

from penguin.game.scene import (
    AGENT_RADIUS, CORNER_OFFSET, EYE_OFFSET, EYE_RADIUS, GOLD_RADIUS, LINE_WIDTH, Scene,
)

MIN_SIZE = 32

GREEN = (0.0, 1.0, 0.0)
RED = (1.0, 0.0, 0.0)
GOLD = (1.0, 200.0 / 255.0, 0.0)
LINE_BLUE = (0.0, 0.0, 213.0 / 255.0)
MARKER_BLUE = (0.0, 0.0, 1.0)

Flag = Union[bool, Tensor]
Number = Union[float, Tensor]
Point = Union[tuple[float, float], Tensor]

# |sin 2·angle| below this counts as axis-aligned: float32 angles of 0 and π/2 land near 1e-7.
_ALIGNED_TOLERANCE = 1e-5
# Zoom factors within this ratio share one rendering group (and one window size): bigger groups
# waste window area, more groups cost fixed per-call work; 2 measured best on the control set.
_ZOOM_GROUP_RATIO = 2.0
# Past this factor the agent's window (diameter 2·r_a·factor·S) is the whole image anyway, so
# larger factors share a group.
_ZOOM_GROUP_CAP = 1.0 / (2 * AGENT_RADIUS)


def render(scene: Scene, size: int, **options: Any) -> Tensor:
    """Images `[B, 3, size, size]` (float32 in `[0, 1]`, on the scene's device) of a batch of scenes.

    `options` are the fields of `View` (see the module docstring); Python values stay as they are,
    so a call without per-sample tensors runs no per-sample masking. `View.of(scene, **options)
    .render(size)` draws the same pixels. Raises a one-line `ValueError` naming the problem on bad
    input: `size` not an int ≥ 32, an unknown option (the message lists the valid ones), a scene
    with non-finite or out-of-room coordinates, a zoom factor below 1 or non-finite, a zoom centre
    without a factor (or the reverse), a line angle without a length (or the reverse), a negative
    line length, a non-finite line angle where the line is drawn, or a per-sample option of the
    wrong shape or dtype.
    """
    _check_size(size)
    return _render(_checked(scene, options, broadcast=False), size)


# ---------------------------------------------------------------------------- options
@dataclass(frozen=True)
class View:
    """Render this scene this way: the scene and every rendering option, each declared here once
    (what each draws: the module docstring's "Options").

    An option holds one value for the whole batch or a per-sample tensor, of the kind its default
    has: a flag is a bool or a bool tensor `[B]`, a number a float or a float tensor `[B]` (a 0-d
    tensor is broadcast), `zoom_center` a point `(x, y)` or a float tensor `[B, 2]` (or `[2]`).
    The defaults draw the plain scene. Build views with `View.of`, which checks the options and
    broadcasts them to per-sample tensors — what a batch holds, so it can be moved, indexed and
    decoded per sample; the constructor trusts its arguments.
    """

    scene: Scene
    zoom_center: Point = (0.5, 0.5)
    zoom_factor: Number = 1.0
    hide_agent: Flag = False
    hide_gold: Flag = False
    hide_walls: Flag = False
    line_to_gold: Flag = False
    line_angle: Number = 0.0
    line_length: Number = 0.0
    line_mask: Flag = True
    corners: Flag = False

    @staticmethod
    def of(scene: Scene, **options: Any) -> "View":
        """A view of `scene` with per-sample tensors; raises like `render` on bad options."""
        return _checked(scene, options, broadcast=True)

    @property
    def line_drawn(self) -> Flag:
        """Where the line at `line_angle` is drawn: `line_mask` and a positive `line_length`."""
        return self.line_mask & (self.line_length > 0)

    def to(self, device: torch.device | str) -> "View":
        return View(**{name: _apply(getattr(self, name), lambda v: v.to(device)) for name in _FIELDS})

    def __getitem__(self, index: Tensor) -> "View":
        """The views of the samples `index` (a `[N]` long tensor)."""
        return View(**{name: _apply(getattr(self, name), lambda v: v[index]) for name in _FIELDS})

    def render(self, size: int) -> Tensor:
        """Images `[B, 3, size, size]`, as `render(self.scene, size, **options)` draws them."""
        _check_size(size)
        return _render(self, size)


_FIELDS = tuple(f.name for f in fields(View))
OPTIONS: tuple[str, ...] = _FIELDS[1:]
"""The names of the rendering options: the keywords `render` and `View.of` accept."""
_DEFAULTS = {f.name: f.default for f in fields(View)[1:]}
# Options that mean nothing alone: giving one without the other is an error.
_PAIRS = (("zoom_center", "zoom_factor"), ("line_angle", "line_length"))


def _apply(value: Any, fn) -> Any:
    """`fn(value)` for the scene and per-sample tensors; batch-wide Python values stay."""
    return fn(value) if isinstance(value, (Tensor, Scene)) else value


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < MIN_SIZE:
        raise ValueError(f"size: expected an int >= {MIN_SIZE}, got {size!r}")


def _checked(scene: Scene, options: dict[str, Any], broadcast: bool) -> View:
    """A checked `View` of `scene`; `broadcast` turns batch-wide Python values into tensors `[B]`."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown render option(s) {', '.join(unknown)}; valid options: {', '.join(OPTIONS)}")
    if not isinstance(scene, Scene):
        raise ValueError(f"scene: expected a Scene, got {type(scene).__name__}")
    scene.check()
    for first, second in _PAIRS:
        if (first in options) != (second in options):
            missing = second if first in options else first
            raise ValueError(f"{missing}: {first} and {second} must be given together")
    b, device = scene.batch_size, scene.device
    view = View(scene, **{name: _KINDS[type(default)](options.get(name, default), name, b, device, broadcast)
                          for name, default in _DEFAULTS.items()})
    if not _everywhere(_finite(view.zoom_factor) & (view.zoom_factor >= 1)):
        raise ValueError("zoom_factor: every factor must be finite and >= 1")
    if not _everywhere(_finite(view.line_length) & (view.line_length >= 0)):
        raise ValueError("line_length: every length must be finite and >= 0")
    if _anywhere(view.line_mask & _negate(_finite(view.line_angle))):
        raise ValueError("line_angle: contains NaN or infinite values where line_mask is set")
    return view


def _got(value: Any) -> str:
    return f"tensor {value.dtype} {list(value.shape)}" if isinstance(value, Tensor) else repr(value)


def _flag(value: Flag, name: str, b: int, device: torch.device, broadcast: bool) -> Flag:
    """A Python bool, or a bool tensor `[B]` on `device`."""
    if isinstance(value, bool):
        return torch.full((b,), value, dtype=torch.bool, device=device) if broadcast else value
    if isinstance(value, Tensor) and value.dtype == torch.bool and value.shape == (b,):
        return value.to(device)
    raise ValueError(f"{name}: expected a bool or a bool tensor of shape [{b}], got {_got(value)}")


def _number(value: Number, name: str, b: int, device: torch.device, broadcast: bool) -> Number:
    """A Python float, or a float32 tensor `[B]` from a 0-d or `[B]` float tensor."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.full((b,), float(value), device=device) if broadcast else float(value)
    if isinstance(value, Tensor) and value.is_floating_point() and value.shape in ((), (b,)):
        return value.to(device=device, dtype=torch.float32).expand(b)
    raise ValueError(f"{name}: expected a number or a float tensor of shape [{b}], got {_got(value)}")


def _point(value: Point, name: str, b: int, device: torch.device, broadcast: bool) -> Point:
    """A finite point `(x, y)`, or a finite float32 tensor `[B, 2]` from a `[2]` or `[B, 2]` float tensor."""
    if isinstance(value, tuple) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if not all(math.isfinite(v) for v in value):
            raise ValueError(f"{name}: contains NaN or infinite values")
        return torch.tensor(value, dtype=torch.float32, device=device).repeat(b, 1) if broadcast else value
    if not (isinstance(value, Tensor) and value.is_floating_point() and value.shape in ((2,), (b, 2))):
        raise ValueError(f"{name}: expected a point (x, y) or a float tensor of shape [{b}, 2], got {_got(value)}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return value.to(device=device, dtype=torch.float32).expand(b, 2)


# An option's kind is the type of its default.
_KINDS = {bool: _flag, float: _number, tuple: _point}


def _finite(value: Number) -> Flag:
    return torch.isfinite(value) if isinstance(value, Tensor) else math.isfinite(value)


def _anywhere(flag: Flag) -> bool:
    return bool(flag.any()) if isinstance(flag, Tensor) else bool(flag)


def _everywhere(flag: Flag) -> bool:
    return bool(flag.all()) if isinstance(flag, Tensor) else bool(flag)


def _negate(flag: Flag) -> Flag:
    return (not flag) if isinstance(flag, bool) else ~flag


def _collapse(flag: Flag) -> Flag:
    """A flag tensor that is all true or all false becomes the bool, so the common "same for every
    sample" case skips per-sample masking."""
    if isinstance(flag, bool):
        return flag
    if not flag.any():
        return False
    return True if flag.all() else flag


def _per_sample(value: Number | Point, b: int, device: torch.device, *tail: int) -> Tensor:
    """A checked number or point as a float32 tensor `[B, *tail]`."""
    return torch.as_tensor(value, dtype=torch.float32, device=device).expand(b, *tail)


# ---------------------------------------------------------------------------- drawing a batch
def _render(view: View, size: int) -> Tensor:
    """Draw a checked view: the zoom window per sample, then each group of similar zoom factors."""
    scene = view.scene
    b, device = scene.batch_size, scene.device
    groups = None
    if _anywhere(view.zoom_factor > 1):
        factor = _per_sample(view.zoom_factor, b, device)
        center = _per_sample(view.zoom_center, b, device, 2)
        side = 1.0 / factor[:, None]
        origin = torch.minimum(torch.clamp(center - side / 2, min=0.0), 1.0 - side)
        if isinstance(view.zoom_factor, Tensor):
            key = torch.floor(torch.log(factor.clamp(max=_ZOOM_GROUP_CAP)) / math.log(_ZOOM_GROUP_RATIO))
            groups = torch.unique(key)
    else:
        factor = torch.ones(b, device=device)
        origin = torch.zeros(b, 2, device=device)
    drawn = _drawn(view)
    scale = factor * size
    out = torch.empty(b, 3, size, size, device=device)
    if groups is None or len(groups) == 1:
        _render_view(drawn, origin, scale, _Canvas(out, None))
    else:
        for k in groups:
            rows = (key == k).nonzero().squeeze(1)
            _render_view(drawn[rows], origin[rows], scale[rows], _Canvas(out, rows))
    return out


def _drawn(view: View) -> View:
    """The view as the drawing code reads it: flags collapsed (`_collapse`), `line_mask` where the
    line is drawn, and, when it is, line angle and length as tensors `[B]`."""
    flags = {name: _collapse(getattr(view, name)) for name, default in _DEFAULTS.items() if type(default) is bool}
    flags["line_mask"] = _collapse(view.line_drawn)
    if flags["line_mask"] is not False:
        b, device = view.scene.batch_size, view.scene.device
        flags.update(line_angle=_per_sample(view.line_angle, b, device),
                     line_length=_per_sample(view.line_length, b, device))
    return replace(view, **flags)


def _mask(flag: Flag, base: Tensor) -> Tensor:
    """`base` (`[B, ...]` bool) where `flag` allows drawing; a per-sample flag covers all of a sample's slots."""
    if isinstance(flag, bool):
        return base if flag else torch.zeros_like(base)
    return base & flag.view((-1,) + (1,) * (base.dim() - 1))


def _where(flag: Flag, base: Tensor) -> Tensor:
    """Sample indices where `base` holds and `flag` allows drawing."""
    return _mask(flag, base).nonzero().squeeze(-1)


# ---------------------------------------------------------------------------- one view
@dataclass(frozen=True)
class _Canvas:
    """The output images and which of them the samples being drawn own (`None`: all, in order)."""

    out: Tensor  # [B, 3, S, S], contiguous
    rows: Tensor | None

    @property
    def size(self) -> int:
        return self.out.shape[-1]

    def image(self, sample: Tensor) -> Tensor:
        """Output image index of each sample index of the view being drawn."""
        return sample if self.rows is None else self.rows[sample]


def _render_view(view: View, origin: Tensor, scale: Tensor, canvas: _Canvas) -> None:
    """Draw a batch (`_drawn`) whose zoom factors are similar enough to share window sizes;
    `origin [B, 2]` is the view window's top-left corner (room units), `scale [B]` pixels per room unit."""
    scene = view.scene
    b = scene.batch_size

    def px(points: Tensor) -> Tensor:  # room units → pixel coordinates of this view, [B, ..., 2]
        shape = (b,) + (1,) * (points.dim() - 2) + (2,)
        return (points.float() - origin.view(shape)) * scale.view(shape[:-1] + (1,))

    walls = scene.walls.float()
    wall_centre = px(walls[..., :2])
    wall_half_length = walls[..., 2] * scale[:, None] / 2
    wall_half_thickness = walls[..., 3] * scale[:, None] / 2
    wall_direction = torch.stack([torch.cos(walls[..., 4]), torch.sin(walls[..., 4])], -1)
    _paint_walls(canvas, wall_centre, wall_half_length, wall_half_thickness, wall_direction,
                 _mask(_negate(view.hide_walls), scene.wall_valid))

    agent = px(scene.agent)
    heading = scene.heading.float()
    eye_direction = torch.stack([torch.cos(heading), torch.sin(heading)], -1)
    _paint_agent(canvas, agent, eye_direction, scale, _negate(view.hide_agent))

    gold = px(scene.gold)
    for slot in range(scene.gold.shape[1]):
        _paint_discs(canvas, gold[:, slot], GOLD_RADIUS * scale, scene.gold_valid[:, slot], _negate(view.hide_gold), GOLD)

    if view.line_to_gold is not False:
        target = scene.first_gold().float()
        d = target - scene.agent.float()
        dist = d.norm(dim=1)
        u = d / dist.clamp(min=1e-12)[:, None]
        length = dist - AGENT_RADIUS - GOLD_RADIUS
        _paint_line(canvas, px(scene.agent.float() + AGENT_RADIUS * u), u, length * scale, scale,
                    scene.gold_valid.any(1) & (length > 0), view.line_to_gold)
    if view.line_mask is not False:
        u = torch.stack([torch.cos(view.line_angle), torch.sin(view.line_angle)], -1)
        _paint_line(canvas, px(scene.agent.float() + AGENT_RADIUS * u), u, view.line_length * scale, scale,
                    view.line_length > 0, view.line_mask)

    if view.corners is not False:
        for slot in range(walls.shape[1]):
            u, v = wall_direction[:, slot], torch.stack([-wall_direction[:, slot, 1], wall_direction[:, slot, 0]], -1)
            hl, ht = wall_half_length[:, slot, None], wall_half_thickness[:, slot, None]
            for su, sv in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                diagonal = (su * u + sv * v) * (CORNER_OFFSET / math.sqrt(2))
                marker = wall_centre[:, slot] + su * hl * u + sv * ht * v + diagonal * scale[:, None]
                _paint_discs(canvas, marker, GOLD_RADIUS * scale, scene.wall_valid[:, slot], view.corners,
                             MARKER_BLUE)


def _visible(centre: Tensor, half_extent: Tensor, size: int) -> Tensor:
    """Whether boxes `centre ± half_extent` (pixels, `[N, 2]`) reach into the image (with AA margin)."""
    return ((centre + half_extent + 1 > 0) & (centre - half_extent - 1 < size)).all(-1)


# ---------------------------------------------------------------------------- walls
def _paint_walls(canvas: _Canvas, centre: Tensor, half_length: Tensor, half_thickness: Tensor,
                 direction: Tensor, on: Tensor) -> None:
    """Fill the images with white under the walls: `1 − wall coverage` in all three channels.

    Axis-aligned walls cover `cover_x(col) · cover_y(row)`, so `1 − Σ_w cover` is one matrix
    product per image whose inner dimension holds the walls plus a constant term
    (`[1, cover_y] @ [1, −cover_x]`); rotated walls then subtract their strips.
    """
    out, size = canvas.out, canvas.size
    b = centre.shape[0]
    if not on.any():
        if canvas.rows is None:
            out.fill_(1)
        else:
            out.index_fill_(0, canvas.rows, 1)
        return
    cos, sin = direction[..., 0], direction[..., 1]
    aligned = (2 * sin * cos).abs() < _ALIGNED_TOLERANCE
    along_x = cos.abs() >= sin.abs()
    half_x = torch.where(along_x, half_length, half_thickness)
    half_y = torch.where(along_x, half_thickness, half_length)
    use = (on & aligned).float()
    cover_x = _interval_coverage(centre[..., 0] - half_x, centre[..., 0] + half_x, size) * -use[..., None]
    cover_y = _interval_coverage(centre[..., 1] - half_y, centre[..., 1] + half_y, size)
    ones = out.new_ones(b, 1, size)
    # Drawing all images: straight into channel 0 of the output; a zoom group: into a scratch plane.
    keep = out[:, 0] if canvas.rows is None else out.new_empty(b, size, size)
    torch.bmm(torch.cat([ones, cover_y], 1).transpose(1, 2), torch.cat([ones, cover_x], 1), out=keep)

    rotated = on & ~aligned
    if rotated.any():
        sample, slot = rotated.nonzero(as_tuple=True)
        c, u = centre[sample, slot], direction[sample, slot]
        hl, ht = half_length[sample, slot], half_thickness[sample, slot]
        extent = torch.stack([hl * u[:, 0].abs() + ht * u[:, 1].abs(), hl * u[:, 1].abs() + ht * u[:, 0].abs()], -1)
        seen = _visible(c, extent, size)
        if seen.any():
            sample, c, u, hl, ht = sample[seen], c[seen], u[seen], hl[seen], ht[seen]
            idx, alpha = _rectangle_strips(c, u, hl, ht, size)
            plane = keep.stride(0)  # 3·S² inside the output, S² in the scratch plane
            target = out.view(-1) if canvas.rows is None else keep.view(-1)
            target.index_add_(0, (idx + (sample * plane)[:, None]).view(-1), alpha.view(-1), alpha=-1)
    # Overlapping walls (the room's corners) subtract twice.
    keep.clamp_(min=0)
    if canvas.rows is None:
        out[:, 1:].copy_(keep.unsqueeze(1).expand(b, 2, size, size))
    else:
        out.index_copy_(0, canvas.rows, keep.unsqueeze(1).expand(b, 3, size, size))


def _interval_coverage(lo: Tensor, hi: Tensor, size: int) -> Tensor:
    """Exact overlap `[..., S]` of intervals `[lo, hi]` (pixels) with the unit pixel spans `[j, j+1]`."""
    j = torch.arange(size, device=lo.device, dtype=lo.dtype)
    return ((hi[..., None] - j).clamp(max=1) - (lo[..., None] - j).clamp(min=0)).clamp(min=0)


def _rectangle_strips(centre: Tensor, direction: Tensor, half_length: Tensor, half_thickness: Tensor,
                      size: int) -> tuple[Tensor, Tensor]:
    """Flat pixel indices and coverages `[N, M]` of rotated rectangles, evaluated in strips.

    The strip runs along the image axis the rectangle's long side is closest to (call it m, the
    other n); column m holds the pixels whose centres lie within `half_thickness + 0.5` of the
    mid-line, a run of `2·(ht + 0.5)/|u_m| + 2` pixels starting just before the mid-line's crossing.
    Runs are shifted to lie inside the image, so the indices of one rectangle are distinct.
    """
    swap = half_thickness > half_length
    direction = torch.where(swap[:, None], torch.stack([-direction[:, 1], direction[:, 0]], -1), direction)
    half_length, half_thickness = torch.maximum(half_length, half_thickness), torch.minimum(half_length, half_thickness)
    major_x = direction[:, 0].abs() >= direction[:, 1].abs()
    cm = torch.where(major_x, centre[:, 0], centre[:, 1])
    cn = torch.where(major_x, centre[:, 1], centre[:, 0])
    um = torch.where(major_x, direction[:, 0], direction[:, 1])
    un = torch.where(major_x, direction[:, 1], direction[:, 0])
    extent = (half_length + 0.5) * um.abs() + (half_thickness + 0.5) * un.abs()
    run = (half_thickness + 0.5) / um.abs()
    # Columns whose centres lie within `extent` of the centre, clipped to the image (as for discs).
    m_lo = torch.floor(cm - extent - 0.5).clamp(min=0)
    m_hi = torch.floor(cm + extent - 0.5).clamp(max=size - 1)
    n_major = max(1, int((m_hi - m_lo).max().item()) + 1)
    n_minor = min(size, math.ceil(2 * run.max().item() + 2))

    k = torch.arange(n_major, device=centre.device, dtype=centre.dtype)
    m0 = m_lo.clamp(max=size - n_major)
    dm = m0[:, None] + k + 0.5 - cm[:, None]  # [N, n_major] pixel centre − rectangle centre, along m
    n0 = torch.floor(cn[:, None] + dm * (un / um)[:, None] - run[:, None]).clamp(0, size - n_minor)
    dn0 = n0 + 0.5 - cn[:, None]
    l = torch.arange(n_minor, device=centre.device, dtype=centre.dtype)
    # Rectangle-frame coordinates of each strip pixel: along (U) and across (V) the long side.
    along = (dm * um[:, None] + dn0 * un[:, None])[..., None] + l * un[:, None, None]
    across = (dn0 * um[:, None] - dm * un[:, None])[..., None] + l * um[:, None, None]
    alpha = _slab_coverage(along, half_length) * _slab_coverage(across, half_thickness)

    m = (m0[:, None] + k).long()
    n0 = n0.long()
    base = torch.where(major_x[:, None], n0 * size + m, m * size + n0)
    step = torch.where(major_x, size, 1)
    idx = base[..., None] + torch.arange(n_minor, device=centre.device) * step[:, None, None]
    return idx.view(len(centre), -1), alpha.view(len(centre), -1)


def _slab_coverage(offset: Tensor, half_width: Tensor) -> Tensor:
    """Coverage of pixels at signed `offset` `[N, ...]` from a slab's mid-line by the slab: the
    overlap of the pixel's span `offset ± 0.5` with `± half_width` — `0.5 + half_width − |offset|`
    near an edge, capped at `2·half_width` so a slab thinner than a pixel is not drawn too dark."""
    cap = (2 * half_width).clamp(max=1).view((-1,) + (1,) * (offset.dim() - 1))
    return torch.minimum(half_width.view_as(cap) + 0.5 - offset.abs(), cap).clamp_(min=0)


# ---------------------------------------------------------------------------- discs and blending
def _disc_window(centre: Tensor, radius: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """A square window per disc: flat pixel indices `[N, n, n]` and pixel-centre offsets from the
    disc centre, `dx [N, 1, n]` and `dy [N, n, 1]`.

    The pixels whose centres lie within `r + 0.5` of the centre have indices
    `floor(c − r − 0.5) … floor(c + r + 0.5)` per axis; `n` is the widest such range once clipped to
    the image (at most `2r + 2`), so a disc that mostly lies outside a zoomed view costs little. The
    window is shifted to lie inside the image."""
    lo = torch.floor(centre - radius[:, None] - 0.5).clamp(min=0)
    hi = torch.floor(centre + radius[:, None] + 0.5).clamp(max=size - 1)
    n = max(1, int((hi - lo).max().item()) + 1)
    corner = lo.clamp(max=size - n)
    k = torch.arange(n, device=centre.device, dtype=centre.dtype)
    dx = (corner[:, 0:1] + k + 0.5 - centre[:, 0:1])[:, None, :]
    dy = (corner[:, 1:2] + k + 0.5 - centre[:, 1:2])[:, :, None]
    rows = (corner[:, 1:2] + k).long() * size
    cols = (corner[:, 0:1] + k).long()
    return rows[:, :, None] + cols[:, None, :], dx, dy


def _disc_coverage(dx: Tensor, dy: Tensor, radius: Tensor) -> Tensor:
    return (radius[:, None, None] + 0.5 - torch.sqrt(dx * dx + dy * dy)).clamp_(0, 1)


def _window(canvas: _Canvas, sample: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
    """Flat indices `[N·3·M]` of windows `idx [N, ...]` of samples `sample [N]` in all three
    channels of the output, and the gathered values `[N, 3, M]`."""
    out = canvas.out
    plane = canvas.size ** 2
    channel = torch.arange(3, device=out.device) * plane
    image = canvas.image(sample) * (3 * plane)
    flat = (image[:, None, None] + channel[None, :, None] + idx.view(len(sample), 1, -1)).view(-1)
    return flat, out.view(-1).index_select(0, flat).view(len(sample), 3, -1)


def _blend(canvas: _Canvas, sample: Tensor, idx: Tensor, alpha: Tensor, colour: tuple[float, float, float]) -> None:
    """Composite `colour` with coverage `alpha` over windows `idx` of samples `sample` (in place)."""
    flat, current = _window(canvas, sample, idx)
    target = torch.tensor(colour, device=current.device).view(1, 3, 1)
    current += alpha.view(len(sample), 1, -1) * (target - current)
    canvas.out.view(-1).index_copy_(0, flat, current.view(-1))


def _paint_discs(canvas: _Canvas, centre: Tensor, radius: Tensor, valid: Tensor, flag: Flag,
                 colour: tuple[float, float, float]) -> None:
    """One disc per sample (`centre [B, 2]`, `radius [B]` in pixels) where `valid` and `flag`."""
    size = canvas.size
    sample = _where(flag, valid & _visible(centre, radius[:, None].expand(-1, 2), size))
    if len(sample) == 0:
        return
    c, r = centre[sample], radius[sample]
    idx, dx, dy = _disc_window(c, r, size)
    _blend(canvas, sample, idx, _disc_coverage(dx, dy, r), colour)


def _paint_agent(canvas: _Canvas, agent: Tensor, eye_direction: Tensor, scale: Tensor, flag: Flag) -> None:
    """Body and eye in one window, multiplied into the image: the wall layer already there lies on top."""
    size = canvas.size
    radius = AGENT_RADIUS * scale
    sample = _where(flag, _visible(agent, radius[:, None].expand(-1, 2), size))
    if len(sample) == 0:
        return
    c, r, s = agent[sample], radius[sample], scale[sample]
    idx, dx, dy = _disc_window(c, r, size)
    body = _disc_coverage(dx, dy, r)
    eye_at = eye_direction[sample] * (EYE_OFFSET * s)[:, None]
    eye = _disc_coverage(dx - eye_at[:, 0, None, None], dy - eye_at[:, 1, None, None], EYE_RADIUS * s)
    # White, then green with coverage `body`, then red with coverage `eye`.
    not_eye = 1 - eye
    blue = (1 - body) * not_eye
    colour = torch.stack([blue + eye, not_eye, blue], 1).view(len(sample), 3, -1)
    flat, current = _window(canvas, sample, idx)
    canvas.out.view(-1).index_copy_(0, flat, (current * colour).view(-1))


def _paint_line(canvas: _Canvas, start: Tensor, direction: Tensor, length: Tensor, scale: Tensor,
                valid: Tensor, flag: Flag) -> None:
    """A blue bar per sample from `start` (pixels) along `direction` for `length` pixels."""
    size = canvas.size
    centre = start + direction * (length / 2)[:, None]
    half_width = LINE_WIDTH / 2 * scale
    half_length = length / 2
    extent = half_length[:, None] * direction.abs() + half_width[:, None] * direction.flip(-1).abs()
    sample = _where(flag, valid & _visible(centre, extent, size))
    if len(sample) == 0:
        return
    idx, alpha = _rectangle_strips(centre[sample], direction[sample], half_length[sample], half_width[sample], size)
    _blend(canvas, sample, idx, alpha, LINE_BLUE)
