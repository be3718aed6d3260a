"""Checks for task datamodules: the ones Penguin's own test suite runs on every task, for yours too.

A task of your own (see `docs/adding_a_task.md`) is tested the way Penguin's tasks are:

    # tests/test_my_tasks.py
    from penguin.testing import check_labels, check_task

    def test_gold_top_half_qa_builds_runs_and_is_deterministic():
        check_task("gold_top_half_qa")

    def test_gold_top_half_qa_answers_match_my_reference():
        check_labels("gold_top_half_qa",
                     {"gold_in_top_half": lambda step: "yes" if step["scene"]["gold"][0][1] < 0.5 else "no"})

- `check_task(task)`: a training batch builds, renders to images in [0, 1] of the asked size, runs
  one brain step with finite loss terms — exactly the terms the task's weights switch on — and
  batches are pure functions of (seed, rank, step): the same coordinates give the same batch,
  other ranks and steps give others, and validation ignores the training seed.
- `check_labels(task, references)`: draws `n` samples and, for every step that asks a question,
  checks that the prompt alone names the question kind (no prompt of any registered task serves
  two kinds) and that the answer equals `references[kind](step)`, where `step` is the sample's
  record from `python -m penguin.tasks show` (`penguin.tasks.describe`: the scene JSON, the
  overlay, the prompt, the answer). A kind the task asks without a reference fails the check:
  every answer rule is recomputed independently, never taken on trust.
- `records(task, n)`: the module, the `EpisodeSpec` and those records, and `same_batch(a, b)`, to
  write checks of your own.

Each raises `AssertionError` with the task, the kind and the sample that failed.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from datamodules import registry
from datamodules.base import TaskDataModule
from lit_modules.terms import run_episode
from penguin.brain import Brain
from penguin.episode import EpisodeSpec

Reference = Callable[[dict], str]


def records(task: str, n: int, seed: int = 0, **options: Any) -> tuple[TaskDataModule, EpisodeSpec, list[dict]]:
    """Training batch 0 of `task` (rank 0, `seed`) with `n` samples, and one record per sample."""
    from penguin.tasks import describe

    module = registry.get(task)(batch_size=n, seed=seed, **options)
    spec = module.train_batch(0)
    return module, spec, describe(spec, module.tokenizer, seed)


def prompt_owners() -> dict[str, set[str]]:
    """Every concrete prompt string of every registered task → the question kinds that hold it."""
    owners: dict[str, set[str]] = {}
    for name, (_, kind) in registry.question_kinds().items():
        for text in kind.expand(paraphrases=True):
            owners.setdefault(text, set()).add(name)
    return owners


def check_task(task: str, brain: Brain | None = None, *, batch: int = 4, image_size: int = 64) -> None:
    """A batch builds, renders and runs a brain step; batches are pure functions of their coordinates."""
    module = registry.get(task)(batch_size=batch, image_size=image_size)
    episode = module.train_batch(0).render(image_size)
    for s, step in enumerate(episode.steps):
        assert step.has_answer == bool(step.answer_mask.any()) and step.has_lm == bool(step.lm_mask.any()), (task, s)
        for image in (step.image, step.image_target):
            if image is not None:
                assert image.shape == (batch, 3, image_size, image_size) and image.dtype == torch.float32, (task, s)
                assert 0 <= image.min() and image.max() <= 1, (task, s)
    if brain is None:
        torch.manual_seed(0)
        brain = Brain.from_preset("tiny64", image_size=image_size)
    result = run_episode(brain, episode)
    expected = {k for k, w in module.weights.as_dict().items() if w > 0}
    assert set(result.terms) == expected, f"{task}: terms {sorted(result.terms)}, weights switch on {sorted(expected)}"
    for name, value in result.terms.items():
        assert torch.isfinite(value), f"{task}: term {name} is {float(value)}"
    _check_deterministic(task)


def check_labels(task: str, references: Mapping[str, Reference], n: int = 600, seed: int = 0,
                 **options: Any) -> int:
    """Every answer of `n` samples equals its kind's reference; returns how many were checked."""
    module, _, samples = records(task, n, seed, **options)
    answered = [k.name for k in module.question_kinds if k.answers and k.name in module.kinds]
    missing = [k for k in answered if k not in references]
    assert not missing, (f"{task}: no reference answer rule for question kind(s) {missing}; write each rule "
                         "independently of the task's code (tests/references.py for Penguin's own tasks)")
    owners = prompt_owners()
    checked = 0
    for record in samples:
        for step in record["steps"]:
            if step["question"] is None or step["answer"] is None:
                continue
            kinds = owners.get(step["prompt"], set())
            assert kinds == {step["question"]}, f"{task}: prompt {step['prompt']!r} belongs to {kinds or 'no kind'}"
            expected = references[step["question"]](step)
            assert step["answer"] == expected, f"{task}: {step['question']} answered {step['answer']!r}, " \
                                               f"reference {expected!r}: {step}"
            checked += 1
    assert checked >= min(n, 50), f"{task}: only {checked} answers were checked"
    return checked


def _check_deterministic(task: str) -> None:
    module = registry.get(task)(batch_size=6, seed=3)
    assert same_batch(module.train_batch(5, rank=1), module.train_batch(5, rank=1)), f"{task}: a batch is not reproducible"
    assert not same_batch(module.train_batch(5, rank=0), module.train_batch(5, rank=1)), f"{task}: ranks share batches"
    assert not same_batch(module.train_batch(5), module.train_batch(6)), f"{task}: steps share batches"
    assert same_batch(module.val_batch(0), module.val_batch(0)), f"{task}: a validation batch is not reproducible"
    other = registry.get(task)(batch_size=6, seed=4)
    assert same_batch(module.val_batch(1), other.val_batch(1)), f"{task}: validation depends on the training seed"


def _flat(spec: EpisodeSpec) -> list[torch.Tensor]:
    out = []
    for step in spec.steps:
        out += [step.prompt_ids, step.reply_ids]
        for view in (step.input, step.target):
            if view is not None:
                out += [view.scene.agent, view.scene.heading, view.scene.gold, view.zoom_factor, view.line_angle]
    return out


def same_batch(a: EpisodeSpec, b: EpisodeSpec) -> bool:
    """Whether two batches hold the same prompts, replies and scenes."""
    fa, fb = _flat(a), _flat(b)
    return len(fa) == len(fb) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(fa, fb))

