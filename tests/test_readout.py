"""Read-out: positions, radii and heading come back from clean renders; the soft variant has gradients."""
import math

import pytest
import torch

from game_reference import R_AGENT, R_GOLD
from penguin.game.readout import read_out, soft_read_out
from penguin.game.render import render
from penguin.game.scene import Scene
from test_render import random_scenes


def _heading_error(a, b):
    return (torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi).abs()


@pytest.mark.parametrize("read", [read_out, soft_read_out])
@pytest.mark.parametrize("interior", [False, True])
def test_recovers_positions_at_224(read, interior):
    js = random_scenes(20 + interior, 32, interior=interior)
    scene = Scene.from_json(js)
    size = 224
    out = read(render(scene, size))
    agent = torch.tensor([sc["agent"] for sc in js])
    gold = torch.tensor([sc["gold"][0] for sc in js])
    heading = torch.tensor([sc["heading"] for sc in js])
    visible = torch.ones(len(js), dtype=torch.bool)
    if interior:
        # An interior wall may cover part of the agent or the gold; judge only the unoccluded ones.
        visible = (out.agent_area - math.pi * (R_AGENT * size) ** 2).abs() < 0.05 * math.pi * (R_AGENT * size) ** 2
        visible &= (out.gold_area - math.pi * (R_GOLD * size) ** 2).abs() < 0.15 * math.pi * (R_GOLD * size) ** 2
        assert visible.sum() > 16
    assert ((out.agent - agent).norm(dim=1)[visible] * size).max() <= 1.5
    assert ((out.gold - gold).norm(dim=1)[visible] * size).max() <= 1.5
    assert (out.agent_radius[visible] - R_AGENT).abs().max() * size < 0.5
    assert (out.gold_radius[visible] - R_GOLD).abs().max() * size < 0.5
    assert math.degrees(_heading_error(out.heading, heading)[visible].max()) < 3.0
    assert out.agent_present[visible].all() and out.eye_present[visible].all() and out.gold_present[visible].all()


def test_recovers_positions_at_64():
    js = random_scenes(22, 32, interior=False)
    out = read_out(render(Scene.from_json(js), 64))
    agent = torch.tensor([sc["agent"] for sc in js])
    gold = torch.tensor([sc["gold"][0] for sc in js])
    assert ((out.agent - agent).norm(dim=1) * 64).max() <= 1.0
    assert ((out.gold - gold).norm(dim=1) * 64).max() <= 1.0
    heading = torch.tensor([sc["heading"] for sc in js])
    assert math.degrees(_heading_error(out.heading, heading).max()) < 15.0  # the eye is 2.6 px wide


def test_absent_objects_read_as_absent_and_finite():
    js = random_scenes(23, 4, interior=False)
    images = render(Scene.from_json(js), 96, hide_agent=torch.tensor([True, False, True, False]),
                    hide_gold=torch.tensor([False, True, True, False]))
    out = read_out(images)
    assert out.agent_present.tolist() == [False, True, False, True]
    assert out.eye_present.tolist() == [False, True, False, True]
    assert out.gold_present.tolist() == [True, False, False, True]
    for field in ("agent", "heading", "gold", "agent_radius", "gold_radius"):
        assert torch.isfinite(getattr(out, field)).all()
    assert torch.allclose(out.agent[0], torch.tensor([0.5, 0.5])) and out.agent_radius[0] < 1e-3


def test_soft_read_out_has_gradients_wrt_the_image():
    js = random_scenes(24, 2, interior=False)
    images = render(Scene.from_json(js), 64).requires_grad_(True)
    out = soft_read_out(images)
    loss = out.agent.sum() + out.gold.sum() + out.agent_radius.sum() + torch.cos(out.heading).sum()
    loss.backward()
    assert images.grad is not None and torch.isfinite(images.grad).all()
    assert images.grad.abs().sum() > 0
    # Moving the gold is possible: the gold centroid responds to pixels near the coin.
    images.grad = None
    soft_read_out(images).gold[:, 0].sum().backward()
    assert images.grad.abs().sum() > 0


def test_bad_input_raises_value_error():
    for bad in (torch.zeros(2, 3, 8), torch.zeros(2, 4, 8, 8), torch.zeros(2, 3, 8, 9),
                torch.zeros(2, 3, 8, 8, dtype=torch.long), "image"):
        with pytest.raises(ValueError, match="images"):
            read_out(bad)
    with pytest.raises(ValueError, match="sharpness"):
        soft_read_out(torch.zeros(1, 3, 8, 8), sharpness=-1.0)
