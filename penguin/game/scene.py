"""Scenes as batched tensors — the one representation every part of Penguin passes around.

A `Scene` holds a batch of `B` game states (docs/game.md, "World and conventions"):

| field        | dtype / shape     | meaning                                                         |
|--------------|-------------------|-----------------------------------------------------------------|
| `agent`      | float `[B, 2]`    | agent centre `(x, y)` in room units, x right, y down            |
| `heading`    | float `[B]`       | θ in `[0, 2π)`; 0 faces +x, π/2 faces +y (clockwise in the image)|
| `gold`       | float `[B, G, 2]` | gold centres; slots beyond `gold_valid` are ignored             |
| `gold_valid` | bool  `[B, G]`    | which gold slots hold a coin (collected gold becomes invalid)   |
| `walls`      | float `[B, W, 5]` | `(cx, cy, length, thickness, angle)` per wall                   |
| `wall_valid` | bool  `[B, W]`    | which wall slots hold a wall                                    |

Scenes are immutable values: every function that "changes" a scene returns a new one
(`Scene.replace`). Invalid slots carry finite filler so batched arithmetic never sees NaN.

Conversion to and from the scene JSON of docs/game.md::

    {"agent": [x, y], "heading": θ, "gold": [[x, y], ...],
     "walls": [[cx, cy, length, thickness, angle], ...]}

goes through `Scene.from_json(list_of_dicts)` and `scene.to_json()`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace as dc_replace
from typing import Any, Sequence

import torch
from torch import Tensor

AGENT_RADIUS = 0.05
EYE_RADIUS = 0.4 * AGENT_RADIUS
EYE_OFFSET = 0.6 * AGENT_RADIUS
GOLD_RADIUS = 1.0 / 64.0
WALL_THICKNESS = 0.0625
STEP_LENGTH = 1.0 / 16.0
TURN_ANGLE = math.pi / 30.0
LINE_WIDTH = 0.021
CORNER_OFFSET = 1.2 * AGENT_RADIUS
NEAR_DISTANCE = 0.15


@dataclass(frozen=True)
class Scene:
    """A batch of game states; see the module docstring for the fields."""

    agent: Tensor
    heading: Tensor
    gold: Tensor
    gold_valid: Tensor
    walls: Tensor
    wall_valid: Tensor

    def __post_init__(self) -> None:
        if self._well_formed():
            return
        b = self.agent.shape[0] if self.agent.dim() == 2 else -1
        checks = {
            "agent": (self.agent, (b, 2)),
            "heading": (self.heading, (b,)),
            "gold": (self.gold, (b, None, 2)),
            "gold_valid": (self.gold_valid, (b, self.gold.shape[1] if self.gold.dim() == 3 else None)),
            "walls": (self.walls, (b, None, 5)),
            "wall_valid": (self.wall_valid, (b, self.walls.shape[1] if self.walls.dim() == 3 else None)),
        }
        for name, (t, shape) in checks.items():
            if not isinstance(t, Tensor):
                raise ValueError(f"Scene.{name}: expected a torch.Tensor, got {type(t).__name__}")
            if t.dim() != len(shape) or any(s is not None and s >= 0 and d != s for d, s in zip(t.shape, shape)):
                want = "[" + ", ".join("B" if s == b else ("*" if s is None else str(s)) for s in shape) + "]"
                raise ValueError(f"Scene.{name}: expected shape {want} with B={b}, got {list(t.shape)}")
        for name in ("gold_valid", "wall_valid"):
            if getattr(self, name).dtype != torch.bool:
                raise ValueError(f"Scene.{name}: expected a bool tensor, got {getattr(self, name).dtype}")

    def _well_formed(self) -> bool:
        """The shapes and dtypes `__post_init__` demands, tested in one pass (scenes are made once
        per physics step, so this is hot); anything else goes to the checks that name the problem."""
        a, h, g, gv, w, wv = self.agent, self.heading, self.gold, self.gold_valid, self.walls, self.wall_valid
        if not all(isinstance(t, Tensor) for t in (a, h, g, gv, w, wv)):
            return False
        if a.dim() != 2 or a.shape[1] != 2 or g.dim() != 3 or w.dim() != 3:
            return False
        b = a.shape[0]
        return (h.shape == (b,) and g.shape[0] == b and g.shape[2] == 2 and gv.shape == g.shape[:2]
                and w.shape[0] == b and w.shape[2] == 5 and wv.shape == w.shape[:2]
                and gv.dtype == torch.bool and wv.dtype == torch.bool)

    # ------------------------------------------------------------------ basics
    @property
    def batch_size(self) -> int:
        return self.agent.shape[0]

    @property
    def device(self) -> torch.device:
        return self.agent.device

    def to(self, device: torch.device | str) -> "Scene":
        return Scene(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def replace(self, **changes: Tensor) -> "Scene":
        """A new scene with some fields swapped (this scene is untouched)."""
        return dc_replace(self, **changes)

    def __getitem__(self, index: Any) -> "Scene":
        """Select samples: `scene[2:5]`, `scene[mask]`, `scene[idx_tensor]`."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Scene(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def __len__(self) -> int:
        return self.batch_size

    def eye(self) -> Tensor:
        """Eye centres `[B, 2]`."""
        return self.agent + EYE_OFFSET * heading_vector(self.heading)

    def gold_count(self) -> Tensor:
        return self.gold_valid.sum(dim=1)

    def first_gold(self) -> Tensor:
        """Centre `[B, 2]` of the first valid gold (the target of one-gold questions)."""
        idx = self.gold_valid.float().argmax(dim=1)
        return self.gold[torch.arange(self.batch_size, device=self.device), idx]

    # ------------------------------------------------------------------ batching
    @staticmethod
    def cat(scenes: Sequence["Scene"]) -> "Scene":
        """Concatenate along the batch, padding gold and wall slots to the widest."""
        if not scenes:
            raise ValueError("Scene.cat: expected at least one scene")
        g = max(s.gold.shape[1] for s in scenes)
        w = max(s.walls.shape[1] for s in scenes)
        padded = [s.padded(g, w) for s in scenes]
        return Scene(**{f.name: torch.cat([getattr(s, f.name) for s in padded]) for f in fields(Scene)})

    def padded(self, gold_slots: int, wall_slots: int) -> "Scene":
        """The same scene with at least `gold_slots` gold and `wall_slots` wall slots."""
        dg = max(0, gold_slots - self.gold.shape[1])
        dw = max(0, wall_slots - self.walls.shape[1])
        if dg == 0 and dw == 0:
            return self
        b = self.batch_size
        return self.replace(
            gold=torch.cat([self.gold, self.gold.new_full((b, dg, 2), 0.5)], 1),
            gold_valid=torch.cat([self.gold_valid, self.gold_valid.new_zeros((b, dg))], 1),
            walls=torch.cat([self.walls, _filler_walls(b, dw, self.walls)], 1),
            wall_valid=torch.cat([self.wall_valid, self.wall_valid.new_zeros((b, dw))], 1),
        )

    # ------------------------------------------------------------------ JSON
    @staticmethod
    def from_json(items: Sequence[dict] | dict, device: torch.device | str = "cpu") -> "Scene":
        """Build a batch from scene-JSON dicts (one dict or a list). Raises `ValueError` on bad input."""
        if isinstance(items, dict):
            items = [items]
        if not items:
            raise ValueError("Scene.from_json: expected at least one scene")
        g = max(1, max(len(it.get("gold", [])) for it in items))
        w = max(1, max(len(it.get("walls", [])) for it in items))
        b = len(items)
        agent = torch.zeros(b, 2, dtype=torch.float64)
        heading = torch.zeros(b, dtype=torch.float64)
        gold = torch.full((b, g, 2), 0.5, dtype=torch.float64)
        gold_valid = torch.zeros(b, g, dtype=torch.bool)
        walls = _filler_walls(b, w, agent)
        wall_valid = torch.zeros(b, w, dtype=torch.bool)
        for i, it in enumerate(items):
            try:
                agent[i] = _numbers(it["agent"], 2, "agent")
                heading[i] = float(it["heading"]) % (2 * math.pi)
                for j, c in enumerate(it.get("gold", [])):
                    gold[i, j] = _numbers(c, 2, "gold")
                    gold_valid[i, j] = True
                for j, wl in enumerate(it.get("walls", [])):
                    walls[i, j] = _numbers(wl, 5, "wall")
                    wall_valid[i, j] = True
            except (KeyError, TypeError, ValueError, RuntimeError) as e:
                raise ValueError(f"Scene.from_json: scene {i} is malformed ({e}); expected "
                                 '{"agent": [x, y], "heading": θ, "gold": [[x, y]...], "walls": [[cx, cy, l, t, a]...]}') from None
        scene = Scene(agent.float(), heading.float(), gold.float(), gold_valid, walls.float(), wall_valid)
        scene.check()
        return scene.to(device)

    def to_json(self) -> list[dict]:
        """One scene-JSON dict per sample (Python floats, invalid slots dropped)."""
        out = []
        agent, heading = self.agent.tolist(), self.heading.tolist()
        gold, gv = self.gold.tolist(), self.gold_valid.tolist()
        walls, wv = self.walls.tolist(), self.wall_valid.tolist()
        for i in range(self.batch_size):
            out.append({
                "agent": agent[i],
                "heading": heading[i],
                "gold": [c for c, v in zip(gold[i], gv[i]) if v],
                "walls": [wl for wl, v in zip(walls[i], wv[i]) if v],
            })
        return out

    # ------------------------------------------------------------------ validation
    def check(self) -> "Scene":
        """Raise `ValueError` naming the field if a coordinate is non-finite or outside the room."""
        for name in ("agent", "heading", "gold", "walls"):
            if not torch.isfinite(getattr(self, name)).all():
                raise ValueError(f"Scene.{name}: contains NaN or infinite values; every coordinate must be finite")
        if ((self.agent < 0) | (self.agent > 1)).any():
            raise ValueError("Scene.agent: coordinates outside the room; x and y must lie in [0, 1]")
        g = self.gold[self.gold_valid]
        if ((g < 0) | (g > 1)).any():
            raise ValueError("Scene.gold: coordinates outside the room; x and y must lie in [0, 1]")
        wc = self.walls[self.wall_valid]
        if ((wc[:, :2] < 0) | (wc[:, :2] > 1)).any():
            raise ValueError("Scene.walls: wall centre outside the room; cx and cy must lie in [0, 1]")
        if (wc[:, 2:4] <= 0).any():
            raise ValueError("Scene.walls: wall length and thickness must be positive")
        return self


def heading_vector(heading: Tensor) -> Tensor:
    """Unit vectors `[..., 2]` along headings (x right, y down)."""
    return torch.stack([torch.cos(heading), torch.sin(heading)], dim=-1)


def _numbers(value: Any, n: int, what: str) -> Tensor:
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.shape != (n,):
        raise ValueError(f"{what} needs {n} numbers, got {list(value) if isinstance(value, (list, tuple)) else value!r}")
    return t


def _filler_walls(b: int, n: int, like: Tensor) -> Tensor:
    """Finite filler for invalid wall slots (a tiny wall in the room centre, never drawn)."""
    t = like.new_zeros((b, n, 5))
    t[..., 0:2] = 0.5
    t[..., 2:4] = 1e-3
    return t
