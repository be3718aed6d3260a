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
| read-out goal  | `readout`           | same                    | a `ReadoutGoal` (goal kind `[B]` + input scene): the drawing's read-out is scored against it instead of a target image (`penguin.game.readout_goal`) |
| labels         | `labels [B]`        | same                    | index of the answer class, for label rates and accuracy (−1: none) |
| question       | `question [B]`      | same                    | index of the question kind asked (−1: none) |
| term presence  | `has_answer`, `has_lm` | same                 | Python bools: does any sample carry that loss (known on the CPU, so the training step never waits on the device to find out) |
| facts          | `facts {name: [B, …]}` | same                 | how the step was made, per sample (a move program, a greedy trace length, which earlier step a target shows): written by `tasks show`, never read by a loss; stays on the CPU |

Per-term weights (`TermWeights`) and the task's learning-rate scale (`lr_scale`) come from the
task's config and ride on the episode, so the LightningModule runs any episode without knowing
which task made it.

`Step` declares the fields of the rows a spec and an episode share; `StepSpec` and `EpisodeStep`
add only their image fields. A `View` (`penguin.game.render.View`, re-exported here) is "render
this scene this way": the scene plus zoom, hidden objects and overlays; `View.of(scene, **options)`
makes every option a per-sample tensor; a `ReadoutGoal` (`penguin.game.readout_goal`, re-exported
here) likewise holds per-sample tensors and moves with `to`. Every field here is a tensor, a
record of tensors or a plain value — no per-sample Python objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

import torch
from torch import Tensor

from penguin.game.readout_goal import ReadoutGoal
from penguin.game.render import View

TERMS = ("image", "answer", "lm", "value", "slot", "kind", "readout")


@dataclass(frozen=True)
class TermWeights:
    """Weights of the loss terms of one task (0 switches a term off). `readout` is off by default:
    only the read-out tasks, whose steps carry a `ReadoutGoal`, switch it on."""

    image: float = 1.0
    answer: float = 1.0
    lm: float = 0.0
    value: float = 1.0
    slot: float = 1.0
    kind: float = 1.0
    readout: float = 0.0

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
class Step:
    """What a brain step holds before and after rendering alike: tokens, masks and the non-image
    targets (see the module table). `StepSpec` adds the views to render, `EpisodeStep` the images."""

    prompt_ids: Tensor
    reply_ids: Tensor
    answer_mask: Tensor
    lm_mask: Tensor
    value_target: Tensor | None = None
    slot_target: Tensor | None = None
    labels: Tensor | None = None
    question: Tensor | None = None
    has_answer: bool = True
    has_lm: bool = True
    facts: Mapping[str, Tensor] | None = None
    readout: ReadoutGoal | None = None

    def shared(self) -> dict[str, Any]:
        """The fields declared here, by name (what rendering carries over unchanged)."""
        return {f.name: getattr(self, f.name) for f in fields(Step)}


@dataclass(frozen=True)
class StepSpec(Step):
    """One brain step before rendering: `input` is the view the brain sees (`None`: only its
    canvases), `target` the view it should draw."""

    input: View | None = None
    target: View | None = None

    def to(self, device: torch.device | str) -> "StepSpec":
        return StepSpec(**{f.name: _to(getattr(self, f.name), device) for f in fields(self)})

    def render(self, size: int) -> "EpisodeStep":
        """This step on its device with `input` and `target` rendered at `size` pixels."""
        return EpisodeStep(**self.shared(),
                           image=self.input.render(size) if self.input is not None else None,
                           image_target=self.target.render(size) if self.target is not None else None)


@dataclass(frozen=True)
class EpisodeStep(Step):
    """One brain step on the device, ready for the brain and the losses: `image [B, 3, S, S]` the
    rendered input (`None`: none), `image_target` the rendered target."""

    image: Tensor | None = None
    image_target: Tensor | None = None


@dataclass(frozen=True)
class EpisodeSpec:
    """A batch of one task's episodes before rendering. `label_names[i]` names label `i`;
    `question_kinds[k]` names the question kind `k` that a step's `question [B]` refers to."""

    task: str
    steps: tuple[StepSpec, ...]
    weights: TermWeights = field(default_factory=TermWeights)
    label_names: tuple[str, ...] = ()
    question_kinds: tuple[str, ...] = ()
    lr_scale: float = 1.0

    @property
    def batch_size(self) -> int:
        return self.steps[0].prompt_ids.shape[0]

    def to(self, device: torch.device | str) -> "EpisodeSpec":
        return replace(self, steps=tuple(s.to(device) for s in self.steps))

    def render(self, size: int) -> "Episode":
        """Render every input and target view at `size` pixels on the spec's device."""
        steps = tuple(s.render(size) for s in self.steps)
        return Episode(self.task, steps, self.weights, self.label_names, self.question_kinds, self.lr_scale)


@dataclass(frozen=True)
class Episode:
    """A rendered batch of one task's episodes, on the training device."""

    task: str
    steps: tuple[EpisodeStep, ...]
    weights: TermWeights
    label_names: tuple[str, ...] = ()
    question_kinds: tuple[str, ...] = ()
    lr_scale: float = 1.0

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
    return value.to(device) if isinstance(value, (Tensor, View, ReadoutGoal)) else value
