"""The `distractor_line` task option and `sample_clear_line`: the line is drawn into the asked share
of scenes, never over the gold, and everything else in the batch (scenes, questions, answers) is
the batch without the option; tasks whose answers a line could change refuse it."""
import math

import pytest
import torch

from datamodules import registry
from penguin.game.readout import read_out
from penguin.game.render import LINE_BLUE
from penguin.game.sampling import LINE_GOLD_GAP, LINE_LENGTH, sample_bare, sample_clear_line
from penguin.game.scene import AGENT_RADIUS
from penguin.testing import same_batch

TAKERS = ("side_qa", "egocentric_side_qa", "facing_gold_qa", "near_gold_qa", "next_move_qa", "heading_qa")


def _blue_pixels(images: torch.Tensor) -> torch.Tensor:
    """Pixels per image `[B]` where blue stands out from red and green (the line, antialiased into the
    white floor; nothing else in a bare scene is blue)."""
    r, g, b = images.unbind(1)
    return (b - torch.maximum(r, g) > 0.3 * LINE_BLUE[2]).flatten(1).sum(1)


def _axis_distance(scene, angle, length) -> torch.Tensor:
    """Distance `[B]` from the first gold's centre to the bar's axis segment, in plain floats."""
    out = []
    for i in range(scene.batch_size):
        ax, ay = scene.agent[i].tolist()
        gx, gy = scene.first_gold()[i].tolist()
        ux, uy = math.cos(angle[i]), math.sin(angle[i])
        sx, sy = ax + AGENT_RADIUS * ux, ay + AGENT_RADIUS * uy
        t = min(max((gx - sx) * ux + (gy - sy) * uy, 0.0), float(length[i]))
        out.append(math.hypot(gx - sx - t * ux, gy - sy - t * uy))
    return torch.tensor(out)


def test_a_clear_line_never_touches_the_gold_and_still_points_everywhere():
    generator = torch.Generator().manual_seed(5)
    scene = sample_bare(generator, 4000)
    angle, length = sample_clear_line(generator, scene)
    assert ((length >= LINE_LENGTH[0]) & (length <= LINE_LENGTH[1])).all()
    assert (_axis_distance(scene, angle, length) >= LINE_GOLD_GAP - 1e-6).all()
    # only the directions at the gold are left out: the angles still cover the circle evenly
    counts = torch.histc(angle, bins=8, min=0, max=2 * math.pi)
    assert counts.min() > 0.8 * 4000 / 8
    # and near gold is where it matters: a plain uniform line would cross some of these coins
    near = (scene.first_gold() - scene.agent).norm(dim=1) < AGENT_RADIUS + LINE_LENGTH[0]
    assert near.sum() > 50


@pytest.mark.parametrize("task", TAKERS)
def test_the_option_adds_a_line_and_changes_nothing_else(task):
    plain = registry.get(task)(batch_size=64).val_batch(0)
    lined = registry.get(task)(batch_size=64, distractor_line=1.0).val_batch(0)
    a, b = plain.steps[0], lined.steps[0]
    assert torch.equal(a.labels, b.labels) and torch.equal(a.question, b.question)
    assert torch.equal(a.prompt_ids, b.prompt_ids) and torch.equal(a.reply_ids, b.reply_ids)
    assert torch.equal(a.input.scene.agent, b.input.scene.agent)
    assert torch.equal(a.input.scene.first_gold(), b.input.scene.first_gold())
    before, after = a.input.render(64), b.input.render(64)
    assert (_blue_pixels(before) == 0).all() and b.input.line_drawn.all()
    assert (_blue_pixels(after) > 0).all()
    assert read_out(after).gold_present.all() and read_out(after).eye_present.all()
    # the option off is the task as it was
    assert same_batch(plain, registry.get(task)(batch_size=64, distractor_line=0.0).val_batch(0))


def test_the_share_is_the_share_of_scenes_with_a_line():
    spec = registry.get("side_qa")(batch_size=2000, distractor_line=0.3).val_batch(0)
    share = spec.steps[0].input.line_drawn.float().mean()
    assert abs(float(share) - 0.3) < 0.04


@pytest.mark.parametrize("task", ["turn_qa", "line_facing_qa", "arrow", "action_names"])
def test_tasks_whose_answers_a_line_could_change_refuse_it(task):
    with pytest.raises(ValueError, match=rf"^{task}\.distractor_line: .*only the gold, agent and heading"):
        registry.get(task)(distractor_line=0.5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "half", float("nan")])
def test_a_share_outside_zero_to_one_is_a_one_line_error(bad):
    with pytest.raises(ValueError, match=r"side_qa\.distractor_line: expected a share in \[0, 1\]"):
        registry.get("side_qa")(distractor_line=bad)
