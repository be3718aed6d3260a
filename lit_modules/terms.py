"""Run an `Episode` through the brain and compute its loss terms — task-agnostic.

`run_episode(brain, episode, state)` feeds the episode's steps to the brain in order, carrying the
state between them, and returns an `EpisodeResult`: per-term losses averaged over the steps that
carry the term, the per-step outputs (for metrics and image grids) and the final state.

| term     | loss                                                                              | where it applies                  |
|----------|-----------------------------------------------------------------------------------|-----------------------------------|
| `image`  | MSE of the predicted image to `image_target`, optionally foreground-weighted      | steps with an image target        |
| `answer` | cross-entropy of `text_logits[:, t]` against `reply_ids[:, t + 1]` on `answer_mask` | steps whose answer mask is set   |
| `lm`     | cross-entropy of `prompt_logits[:, t]` against `prompt_ids[:, t + 1]` on `lm_mask`  | steps whose LM mask is set       |
| `value`  | MSE of the value head to `value_target`                                           | steps with a value target         |
| `slot`   | cross-entropy of the selection **logits** against `slot_target` (one softmax: never a second one over already-normalised weights) | steps with a slot target |
| `kind`   | cross-entropy of `kind_logits` against the class of the question kind asked (`brain.kind_vocabulary`) | steps with a `question`; samples with −1 are skipped |
| `readout`| the predicted image's read-out scored against the step's `ReadoutGoal` (`lit_modules/readout_loss.py`: radii, the kept object, the goal's constraint, MSE to a render of the read-out scene) | steps with a read-out goal |

**Foreground and edit weighting.** Most pixels are white background, so a plain MSE is dominated
by them and a model that draws only the background scores well. With `foreground_weight = α > 0`,
pixels whose target is not white weigh `1 + α`. An edit (the arrow's line, an object removed) is
smaller still: with `edit_weight = β > 0`, pixels the target *changes* relative to the step's input
image (`changed_pixels`, the same pixels the `edit_ratio` metric scores) weigh another `β`. The
weights are normalised to mean 1 per image so the term keeps the scale of a plain MSE; a step
without an input image of the target's size, or whose target changes nothing (a copy step), gets
no edit weight.

Term weights (`episode.weights`) are *not* applied here: the weighting strategy combines terms.
A term whose weight is 0 is skipped entirely (no forward cost for the text decoder).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from penguin.brain import Brain, BrainState, BrainStep
from penguin.brain.step import BrainOutput
from lit_modules.readout_loss import readout_loss
from penguin.episode import Episode, EpisodeStep

BACKGROUND_LEVEL = 0.98  # a target pixel is background when every channel is at least this white
EDIT_THRESHOLD = 0.1  # a target pixel "changed" when a channel differs from the input by more
FOREGROUND_WEIGHT = 4.0  # the training defaults (`BrainModule`, `penguin.bench train`)
EDIT_WEIGHT = 10.0


@dataclass
class EpisodeResult:
    terms: dict[str, Tensor]
    outputs: list[BrainOutput]
    state: BrainState


def run_episode(brain: Brain, episode: Episode, state: BrainState | None = None, *,
                foreground_weight: float = 0.0, edit_weight: float = 0.0) -> EpisodeResult:
    weights = episode.weights
    state = state if state is not None else BrainState.fresh(episode.batch_size, episode.steps[0].prompt_ids.device)
    sums: dict[str, list[Tensor]] = {}
    outputs = []
    kind_ids = question_kind_ids(brain, episode)
    for step in episode.steps:
        wants_reply = weights.answer > 0 and step.has_answer
        out, state = brain(BrainStep(image=step.image, prompt_ids=step.prompt_ids,
                                     reply_ids=step.reply_ids if wants_reply else None), state)
        outputs.append(out)
        terms = step_terms(out, step, foreground_weight, weights.as_dict(), kind_ids, edit_weight)
        for name, value in terms.items():
            sums.setdefault(name, []).append(value)
    terms = {name: torch.stack(values).mean() for name, values in sums.items()}
    return EpisodeResult(terms, outputs, state)


def question_kind_ids(brain: Brain, episode: Episode) -> Tensor | None:
    """`[K]`: the kind-head class of each of the episode's question kinds (None when it has none)."""
    if not episode.question_kinds:
        return None
    return brain.kind_vocabulary.ids(episode.question_kinds, episode.steps[0].prompt_ids.device)


def step_terms(out: BrainOutput, step: EpisodeStep, foreground_weight: float,
               weights: dict[str, float], kind_ids: Tensor | None = None,
               edit_weight: float = 0.0) -> dict[str, Tensor]:
    """The terms one step carries (only those with a positive weight). `kind_ids` maps the step's
    `question` indices to kind-head classes (`question_kind_ids`)."""
    terms: dict[str, Tensor] = {}
    if weights["image"] > 0 and step.image_target is not None and out.image is not None:
        terms["image"] = image_loss(out.image, step.image_target, foreground_weight,
                                    edit_weight=edit_weight, input=step.image)
    if weights["answer"] > 0 and out.text_logits is not None and step.has_answer:
        terms["answer"] = masked_cross_entropy(out.text_logits[:, :-1], step.reply_ids[:, 1:], step.answer_mask)
    if weights["lm"] > 0 and out.prompt_logits is not None and step.has_lm:
        terms["lm"] = masked_cross_entropy(out.prompt_logits[:, :-1], step.prompt_ids[:, 1:], step.lm_mask)
    if weights["value"] > 0 and step.value_target is not None:
        terms["value"] = F.mse_loss(out.value.float(), step.value_target.float())
    if weights["slot"] > 0 and step.slot_target is not None:
        terms["slot"] = F.cross_entropy(out.selection_logits.float(), step.slot_target)
    if (weights["kind"] > 0 and out.kind_logits is not None and step.question is not None
            and kind_ids is not None):
        asked = step.question >= 0
        target = torch.where(asked, kind_ids[step.question.clamp(min=0)], 0)
        losses = F.cross_entropy(out.kind_logits.float(), target, reduction="none")
        terms["kind"] = (losses * asked).sum() / asked.sum().clamp(min=1)
    if weights["readout"] > 0 and step.readout is not None and out.image is not None:
        terms["readout"] = readout_loss(out.image, step.readout)
    return terms


def image_loss(prediction: Tensor, target: Tensor, foreground_weight: float = 0.0, *,
               edit_weight: float = 0.0, input: Tensor | None = None) -> Tensor:
    """Pixel MSE `[B, 3, S, S]` → scalar, foreground- and edit-weighted as the module docstring says."""
    squared = (prediction.float() - target.float()).pow(2).mean(dim=1)  # [B, S, S]
    edits = edit_weight > 0 and input is not None and input.shape == target.shape
    if foreground_weight <= 0 and not edits:
        return squared.mean()
    w = 1.0 + foreground_weight * foreground(target).float()
    if edits:
        w = w + edit_weight * changed_pixels(input, target)[:, 0].float()
    w = w / w.mean(dim=(1, 2), keepdim=True)
    return (squared * w).mean()


def foreground(target: Tensor) -> Tensor:
    """`[B, S, S]` bool: the target's drawn pixels (walls, gold, agent, line), where some channel is
    below `BACKGROUND_LEVEL`; the rest is the empty floor."""
    return target.min(dim=1).values < BACKGROUND_LEVEL


def changed_pixels(input: Tensor, target: Tensor) -> Tensor:
    """`[B, 1, S, S]` bool: where the target differs from the input by more than `EDIT_THRESHOLD` in
    some channel — the edit a step asks for (the arrow's line; nothing for a plain copy)."""
    return ((target.float() - input.float()).abs() > EDIT_THRESHOLD).any(dim=1, keepdim=True)


def masked_cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean token cross-entropy over the positions where `mask` is set."""
    flat = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    m = mask.flatten().float()
    return (flat * m).sum() / m.sum().clamp(min=1.0)


def answer_correct(logits: Tensor, targets: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Teacher-forced correctness: `(exact [B] bool, token_hits [B, T] bool)` where a sample is
    exact when every masked token is the argmax prediction."""
    hits = (logits.argmax(-1) == targets) | ~mask
    return hits.all(dim=1), hits & mask
