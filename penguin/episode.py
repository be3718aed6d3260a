"""The batch contract between the task datamodules and the LightningModule.

A task datamodule draws an `EpisodeSpec` on the CPU: scene tensors, token ids and render
instructions (kilobytes). It crosses the DataLoader boundary, is moved to the training device
(`EpisodeSpec.to`, which Lightning's batch transfer calls), and `EpisodeSpec.render(size)` turns it
there into an `Episode` of images — the renderer runs where the model runs.

An episode is a short sequence of brain steps (1 for most tasks). Each step may carry

| field          | spec (`StepSpec`)   | episode (`EpisodeStep`) | meaning                                   |
|----------------|---------------------|-------------------------|-------------------------------------------|
| input image    | `input: View|None`  | `image [B,3,S,S]|None`  | none: the brain sees only its canvases    |
| prompt         | `prompt_ids [B,Tp]` | same                    | `<s> prompt`, right-padded with `<pad>`=0 |
| reply          | `reply_ids [B,Tr]`  | same                    | `<sep> answer </s>` (teacher-forced)      |
| answer loss    | `answer_mask`       | same `[B,Tr-1]`         | which of `reply_ids[:, 1:]` carry the answer CE |
| prompt LM loss | `lm_mask`           | same `[B,Tp-1]`         | which of `prompt_ids[:, 1:]` carry the LM CE |
| image target   | `target: View|None` | `image_target`          | the image the brain should draw           |
| value target   | `value_target [B]`  | same                    | the value head's target                   |
| slot target    | `slot_target [B]`   | same                    | canvas-selection target (recall_routing)  |
| labels         | `labels [B]`        | same                    | index of the answer class, for label rates and accuracy (−1: none) |
| question       | `question [B]`      | same                    | index of the question kind asked (−1: none) |
| term presence  | `has_answer`, `has_lm` | same                 | Python bools: does any sample carry that loss (known on the CPU, so the training step never waits on the device to find out) |

Per-term weights (`TermWeights`) come from the task's config and ride on the episode, so the
LightningModule runs any episode without knowing which task made it.

A `View` is "render this scene this way": the scene plus zoom, hidden objects and overlays, all
per-sample tensors. Every field here is a tensor or a plain value — no per-sample Python objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor

from penguin.game.render import render
from penguin.game.scene import Scene

TERMS = ("image", "answer", "lm", "value", "slot", "kind")


@dataclass(frozen=True)
class TermWeights:
    """Weights of the loss terms of one task (0 switches a term off)."""

    image: float = 1.0
    answer: float = 1.0
    lm: float = 0.0
    value: float = 1.0
    slot: float = 1.0
    kind: float = 1.0

    def __post_init__(self) -> None:
        for name in TERMS:
            w = getattr(self, name)
            if not isinstance(w, (int, float)) or w < 0 or w != w:
                raise ValueError(f"weights.{name}: expected a non-negative number, got {w!r}")

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in TERMS}


ANSWER_ONLY = TermWeights(image=0.0, answer=1.0, lm=0.0, value=0.0, slot=0.0, kind=1.0)
"""The term weights of a question task: the answer's cross-entropy, and naming the question kind."""


@dataclass(frozen=True)
class View:
    """How to render a scene: zoom (factor 1 = whole room), hidden objects, overlays.

    Flags are bool tensors `[B]`; `line_angle`/`line_length` are float `[B]` and drawn where
    `line_mask` is set (a line from the agent's rim at angle φ, length ℓ).
    """

    scene: Scene
    zoom_center: Tensor
    zoom_factor: Tensor
    hide_agent: Tensor
    hide_gold: Tensor
    hide_walls: Tensor
    line_to_gold: Tensor
    line_angle: Tensor
    line_length: Tensor
    line_mask: Tensor
    corners: Tensor

    @staticmethod
    def of(scene: Scene, **options: Any) -> "View":
        """A view of `scene`; options are per-sample tensors or Python scalars broadcast to `[B]`."""
        b, dev = scene.batch_size, scene.device
        defaults = dict(zoom_center=torch.full((b, 2), 0.5, device=dev), zoom_factor=1.0, hide_agent=False,
                        hide_gold=False, hide_walls=False, line_to_gold=False, line_angle=0.0, line_length=0.0,
                        line_mask=False, corners=False)
        unknown = set(options) - set(defaults)
        if unknown:
            raise ValueError(f"View.of: unknown option(s) {sorted(unknown)}; valid: {sorted(defaults)}")
        values = {}
        for name, default in defaults.items():
            v = options.get(name, default)
            if not isinstance(v, Tensor):
                dtype = torch.bool if isinstance(v, bool) else torch.float32
                v = torch.full((b,), v, dtype=dtype, device=dev)
            values[name] = v
        return View(scene, **values)

    def to(self, device: torch.device | str) -> "View":
        return View(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def render(self, size: int) -> Tensor:
        zoom = self.zoom_factor > 1
        kwargs = {}
        if bool(zoom.any()):
            kwargs = dict(zoom_center=self.zoom_center, zoom_factor=self.zoom_factor)
        if bool(self.line_mask.any()):
            kwargs.update(line_angle=self.line_angle, line_length=self.line_length, line_mask=self.line_mask)
        return render(self.scene, size, hide_agent=self.hide_agent, hide_gold=self.hide_gold,
                      hide_walls=self.hide_walls, line_to_gold=self.line_to_gold, corners=self.corners, **kwargs)


@dataclass(frozen=True)
class StepSpec:
    """One brain step before rendering (see the module table)."""

    prompt_ids: Tensor
    reply_ids: Tensor
    answer_mask: Tensor
    lm_mask: Tensor
    input: View | None = None
    target: View | None = None
    value_target: Tensor | None = None
    slot_target: Tensor | None = None
    labels: Tensor | None = None
    question: Tensor | None = None
    has_answer: bool = True
    has_lm: bool = True

    def to(self, device: torch.device | str) -> "StepSpec":
        return StepSpec(**{f.name: _to(getattr(self, f.name), device) for f in fields(self)})


@dataclass(frozen=True)
class EpisodeStep:
    """One brain step on the device, ready for the brain and the losses."""

    prompt_ids: Tensor
    reply_ids: Tensor
    answer_mask: Tensor
    lm_mask: Tensor
    image: Tensor | None = None
    image_target: Tensor | None = None
    value_target: Tensor | None = None
    slot_target: Tensor | None = None
    labels: Tensor | None = None
    question: Tensor | None = None
    has_answer: bool = True
    has_lm: bool = True


@dataclass(frozen=True)
class EpisodeSpec:
    """A batch of one task's episodes before rendering. `label_names[i]` names label `i`;
    `question_kinds[k]` names the question kind `k` that a step's `question [B]` refers to."""

    task: str
    steps: tuple[StepSpec, ...]
    weights: TermWeights = field(default_factory=TermWeights)
    label_names: tuple[str, ...] = ()
    question_kinds: tuple[str, ...] = ()

    @property
    def batch_size(self) -> int:
        return self.steps[0].prompt_ids.shape[0]

    def to(self, device: torch.device | str) -> "EpisodeSpec":
        return replace(self, steps=tuple(s.to(device) for s in self.steps))

    def render(self, size: int) -> "Episode":
        """Render every input and target view at `size` pixels on the spec's device."""
        steps = []
        for s in self.steps:
            steps.append(EpisodeStep(
                prompt_ids=s.prompt_ids, reply_ids=s.reply_ids, answer_mask=s.answer_mask, lm_mask=s.lm_mask,
                image=s.input.render(size) if s.input is not None else None,
                image_target=s.target.render(size) if s.target is not None else None,
                value_target=s.value_target, slot_target=s.slot_target, labels=s.labels, question=s.question,
                has_answer=s.has_answer, has_lm=s.has_lm))
        return Episode(self.task, tuple(steps), self.weights, self.label_names, self.question_kinds)


@dataclass(frozen=True)
class Episode:
    """A rendered batch of one task's episodes, on the training device."""

    task: str
    steps: tuple[EpisodeStep, ...]
    weights: TermWeights
    label_names: tuple[str, ...] = ()
    question_kinds: tuple[str, ...] = ()

    @property
    def batch_size(self) -> int:
        return self.steps[0].prompt_ids.shape[0]


def text_step(prompt_ids: Tensor, reply_ids: Tensor, *, answer_loss: bool = True, lm_loss: bool = True,
              pad_id: int = 0, **views_and_targets: Any) -> StepSpec:
    """A `StepSpec` whose masks follow the teacher-forcing layout: the answer CE covers every
    non-pad token of `reply_ids[:, 1:]` (the answer and `</s>`), the LM CE every non-pad token of
    `prompt_ids[:, 1:]`. Either can be switched off. Padding columns that no sample uses are
    trimmed (`trim_padding`)."""
    prompt_ids, reply_ids = trim_padding(prompt_ids, pad_id), trim_padding(reply_ids, pad_id)
    answer_mask = (reply_ids[:, 1:] != pad_id) & answer_loss
    lm_mask = (prompt_ids[:, 1:] != pad_id) & lm_loss
    return StepSpec(prompt_ids=prompt_ids, reply_ids=reply_ids, answer_mask=answer_mask, lm_mask=lm_mask,
                    has_answer=bool(answer_mask.any()), has_lm=bool(lm_mask.any()),
                    **views_and_targets)


def trim_padding(ids: Tensor, pad_id: int = 0, multiple: int = 4) -> Tensor:
    """Drop the all-padding columns at the right of `ids`, keeping a width that is a multiple of
    `multiple` (few distinct shapes) — fixed-width token tables are mostly padding, and every
    padded column costs attention and MLP work in the brain."""
    used = int((ids != pad_id).any(dim=0).nonzero().max()) + 1 if bool((ids != pad_id).any()) else 1
    width = min(ids.shape[1], -(-max(used, 2) // multiple) * multiple)
    return ids[:, :width]


def _to(value: Any, device: torch.device | str) -> Any:
    return value.to(device) if isinstance(value, (Tensor, View)) else value
