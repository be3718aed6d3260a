"""The batch contract (`penguin.episode`): a step's fields are declared once in `Step`, carried
through rendering unchanged, and only the views become images; `text_step` builds the masks of
the teacher-forcing layout."""
from dataclasses import fields

import torch

from penguin.episode import Episode, EpisodeSpec, EpisodeStep, ReadoutGoal, Step, StepSpec, View, text_step
from penguin.game.render import render
from penguin.game.sampling import sample_bare

SHARED = [f.name for f in fields(Step)]


def test_spec_and_episode_steps_add_only_their_image_fields_to_step():
    assert [f.name for f in fields(StepSpec)] == SHARED + ["input", "target"]
    assert [f.name for f in fields(EpisodeStep)] == SHARED + ["image", "image_target"]


def distinct_step(scene, **views) -> StepSpec:
    """A step whose every shared field holds its own value (bools away from their defaults)."""
    b = scene.batch_size
    values = {}
    for k, f in enumerate(fields(Step)):
        values[f.name] = ((not f.default) if isinstance(f.default, bool)
                          else {"fact": torch.full((b,), k)} if f.name == "facts"
                          else ReadoutGoal.of(k % 3, scene) if f.name == "readout" else torch.full((b, 3), k))
    return StepSpec(**values, **views)


def test_rendering_carries_every_shared_field_and_renders_the_views():
    scene = sample_bare(torch.Generator().manual_seed(0), 4)
    line = View.of(scene, line_to_gold=torch.tensor([True, False, True, False]))
    spec = EpisodeSpec("probe", (distinct_step(scene, input=View.of(scene), target=line),
                                 distinct_step(scene, target=View.of(scene, hide_gold=True))))
    moved = spec.to("cpu")
    for before, after in zip(spec.steps, moved.steps):  # the read-out goal moves as a whole
        goal = after.readout
        assert isinstance(goal, ReadoutGoal) and torch.equal(goal.kind, before.readout.kind)
        assert torch.equal(goal.scene.agent, scene.agent) and torch.equal(goal.gold, scene.first_gold())
    episode = moved.render(64)
    assert isinstance(episode, Episode) and episode.task == "probe" and episode.batch_size == 4
    for before, after in zip(moved.steps, episode.steps):
        assert isinstance(after, EpisodeStep)
        for name in SHARED:
            a, b = getattr(before, name), getattr(after, name)
            assert a is b if name in ("facts", "readout") else (
                torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b), name
    first, second = episode.steps
    assert torch.equal(first.image, render(scene, 64))
    assert torch.equal(first.image_target, render(scene, 64, line_to_gold=torch.tensor([True, False, True, False])))
    assert second.image is None and torch.equal(second.image_target, render(scene, 64, hide_gold=True))
    assert not torch.equal(first.image_target, first.image)


def test_text_step_masks_follow_the_teacher_forcing_layout():
    scene = sample_bare(torch.Generator().manual_seed(1), 2)
    prompt = torch.tensor([[1, 5, 6, 7, 0, 0, 0, 0, 0], [1, 5, 0, 0, 0, 0, 0, 0, 0]])
    reply = torch.tensor([[3, 9, 2, 0, 0], [3, 8, 8, 2, 0]])
    labels, question, value = torch.tensor([1, 0]), torch.tensor([0, 0]), torch.tensor([0.5, -1.0])
    step = text_step(prompt, reply, pad_id=0, input=View.of(scene), labels=labels, question=question,
                     value_target=value, slot_target=torch.tensor([1, 1]))
    # Padding columns no sample uses are trimmed to a multiple of 4.
    assert step.prompt_ids.shape == (2, 4) and step.reply_ids.shape == (2, 4)
    assert step.answer_mask.tolist() == [[True, True, False], [True, True, True]]
    assert step.lm_mask.tolist() == [[True, True, True], [True, False, False]]
    assert step.has_answer and step.has_lm and step.labels is labels and step.value_target is value
    quiet = text_step(prompt, reply, answer_loss=False, lm_loss=False, target=View.of(scene))
    assert not quiet.answer_mask.any() and not quiet.has_answer and not quiet.has_lm
    assert quiet.input is None and quiet.target is not None
