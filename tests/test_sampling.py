"""Sampled scenes are valid (nothing overlaps, everything inside the room), seeded, and distributed as docs/game.md says."""
import math

import pytest
import torch

from game_reference import R_AGENT, R_GOLD, min_wall_distance, rectangle_corners
from penguin.game.control import jitter_actions, sample_control
from penguin.game.sampling import sample_bare, sample_full

T = 0.0625


def _valid(scene):
    for i, item in enumerate(scene.to_json()):
        ax, ay = item["agent"]
        assert R_AGENT <= ax <= 1 - R_AGENT and R_AGENT <= ay <= 1 - R_AGENT  # may stand in an exit gap
        assert min_wall_distance(item["agent"], item["walls"]) >= R_AGENT
        assert 0 <= item["heading"] < 2 * math.pi
        for k, (gx, gy) in enumerate(item["gold"]):
            assert 0 < gx < 1 and 0 < gy < 1
            assert min_wall_distance((gx, gy), item["walls"]) >= R_GOLD
            assert math.hypot(gx - ax, gy - ay) >= R_AGENT + R_GOLD
            for hx, hy in item["gold"][:k]:
                assert math.hypot(gx - hx, gy - hy) >= 2 * R_GOLD
        for wall in item["walls"]:
            for cx, cy in rectangle_corners(wall):
                assert -1e-6 <= cx <= 1 + 1e-6 and -1e-6 <= cy <= 1 + 1e-6


def test_bare_scenes_are_valid_and_gold_is_within_the_offset():
    scene = sample_bare(torch.Generator().manual_seed(0), 1500, max_offset=0.3)
    _valid(scene)
    inner = (scene.agent >= T + R_AGENT) & (scene.agent <= 1 - T - R_AGENT)
    assert inner.all()  # freshly sampled agents start inside the side walls
    offset = (scene.first_gold() - scene.agent).abs()
    assert (offset <= 0.3 + 1e-6).all()
    assert scene.gold_valid.all() and scene.gold.shape[1] == 1


def test_full_scenes_are_valid_with_one_or_two_interior_walls_and_gold():
    g = torch.Generator().manual_seed(1)
    for scene in (sample_full(g, 600), sample_full(g, 600, right_angles=True)):
        _valid(scene)
        interior = scene.wall_valid[:, 5:].sum(1)
        assert set(interior.tolist()) == {1, 2}
        assert set(scene.gold_valid.sum(1).tolist()) == {1, 2}
    angles = scene.walls[:, 5:, 4][scene.wall_valid[:, 5:]]
    assert ((angles == 0) | ((angles - math.pi / 2).abs() < 1e-6)).all()


def test_half_the_rooms_have_an_exit_gap_on_a_uniform_side():
    scene = sample_bare(torch.Generator().manual_seed(2), 4000)
    pieces = scene.wall_valid.sum(1)
    assert 0.45 < (pieces == 5).float().mean().item() < 0.55
    gap = scene.wall_valid[:, 4]
    short = scene.walls[gap][:, :, 2] < 0.99  # the two pieces of the broken side
    assert (short.sum(1) == 2).all()
    widths = scene.walls[gap][short][:, 2]
    assert torch.allclose(widths, torch.full_like(widths, (1 - 2 * R_AGENT) / 2))


def test_sampling_is_deterministic_per_seed_and_differs_across_seeds():
    a = sample_full(torch.Generator().manual_seed(42), 64)
    b = sample_full(torch.Generator().manual_seed(42), 64)
    c = sample_full(torch.Generator().manual_seed(43), 64)
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()
    va = sample_control(torch.Generator().manual_seed(5), 32)
    vb = sample_control(torch.Generator().manual_seed(5), 32)
    assert torch.equal(va.zoom_factor, vb.zoom_factor) and va.scene.to_json() == vb.scene.to_json()


def test_bare_scene_label_rates_match_the_old_engine():
    from penguin.game.geometry import near
    scene = sample_bare(torch.Generator().manual_seed(3), 20000)
    assert 0.08 < near(scene).float().mean().item() < 0.13  # docs/game.md: 9.9 % of bare scenes


def test_jitter_has_three_segments_of_1_to_30_repeats():
    actions = jitter_actions(torch.Generator().manual_seed(0), 500)
    for row in actions.tolist():
        runs = []
        for a in row:
            if a == 0:
                continue
            if runs and runs[-1][0] == a and len(runs) and runs[-1][2]:
                runs[-1][1] += 1
            else:
                runs.append([a, 1, True])
        total = sum(r[1] for r in runs)
        assert 3 <= total <= 90 and all(1 <= a <= 4 for a in row[:total]) and all(a == 0 for a in row[total:])
        assert len(runs) <= 3  # consecutive equal segments merge, so at most three runs


def test_control_views_mix_rooms_and_zooms():
    views = sample_control(torch.Generator().manual_seed(8), 2000)
    _valid(views.scene[:300])
    zoomed = views.zoom_factor > 1
    assert 0.4 < zoomed.float().mean().item() < 0.6
    assert views.zoom_factor[zoomed].min() >= 2 and views.zoom_factor.max() <= 21
    assert ((views.zoom_center >= 0) & (views.zoom_center <= 1)).all()


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_batch_is_one_line_error(bad):
    with pytest.raises(ValueError, match="batch"):
        sample_bare(torch.Generator(), bad)
