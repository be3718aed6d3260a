"""The read-out tasks (`readout_closer`, `readout_further`, `readout_gold_upper_left`) and the
`readout` loss term: goals recomputed from scene numbers, scenes built by hand to meet a goal or
to miss it (the input copied, the object moved the wrong way), the "looks like a game" target
checked against independent renders, finite losses and gradients on degenerate drawings, and one
training step of the brain."""
import json
import math

import pytest
import torch
from lightning.pytorch.strategies import SingleDeviceStrategy

from datamodules import registry
from lit_modules.metrics import ValidationMetrics
from lit_modules.readout_loss import game_target, readout_loss, readout_parts
from lit_modules.terms import EpisodeResult, run_episode
from penguin.brain import Brain, BrainState, BrainStep
from penguin.brain.step import BrainOutput
from penguin.episode import Episode, EpisodeStep, TermWeights
from penguin.game.readout import read_out, soft_read_out
from penguin.game.readout_goal import ReadoutGoal, satisfied, shortfall
from penguin.game.render import render
from penguin.game.scene import AGENT_RADIUS, GOLD_RADIUS, WALL_THICKNESS, Scene
from penguin.tasks import main as tasks_main
from penguin.visual import prediction_grid

TASKS = {"readout_closer": 0, "readout_further": 1, "readout_gold_upper_left": 2}
SIZE = 64
C, M = AGENT_RADIUS + GOLD_RADIUS, 0.1  # contact distance and margin, as the task manuals state them
AGENT_LO, AGENT_HI = WALL_THICKNESS + AGENT_RADIUS, 1 - WALL_THICKNESS - AGENT_RADIUS
GOLD_LO, GOLD_HI = WALL_THICKNESS + GOLD_RADIUS, 1 - WALL_THICKNESS - GOLD_RADIUS


def scene_of(agent, gold, heading=0.3, like: Scene | None = None) -> Scene:
    """Scenes with these agents and golds `[B, 2]`, the walls of `like` (default: the four side walls)."""
    agent, gold = torch.as_tensor(agent, dtype=torch.float32), torch.as_tensor(gold, dtype=torch.float32)
    b = len(agent)
    if like is None:
        t = WALL_THICKNESS
        walls = torch.tensor([[0.5, t / 2, 1, t, 0], [0.5, 1 - t / 2, 1, t, 0],
                              [t / 2, 0.5, 1, t, math.pi / 2], [1 - t / 2, 0.5, 1, t, math.pi / 2]]).repeat(b, 1, 1)
        wall_valid = torch.ones(b, 4, dtype=torch.bool)
    else:
        walls, wall_valid = like.walls, like.wall_valid
    heading = torch.as_tensor(heading, dtype=torch.float32).expand(b).clone()
    return Scene(agent, heading, gold.unsqueeze(1), torch.ones(b, 1, dtype=torch.bool), walls, wall_valid)


def inside(points, lo, hi):
    return ((points >= lo + 0.01) & (points <= hi - 0.01)).all(1)


def met_and_missed(kind: int, n: int = 48):
    """Input scenes of the task, and by hand: scenes that meet the goal, and that move the object
    the wrong way (only samples where every built scene stays in the room)."""
    scene = registry.get(list(TASKS)[kind])(batch_size=n).train_batch(0).steps[0].input.scene
    a, g = scene.agent, scene.first_gold()
    if kind == 2:
        unit = g / g.norm(dim=1, keepdim=True)
        good_gold, bad_gold = g - (M + 0.06) * unit, g + 0.12 * unit
        keep = inside(good_gold, GOLD_LO, GOLD_HI) & inside(bad_gold, GOLD_LO, GOLD_HI)
        keep &= ((good_gold - a).norm(dim=1) > C + 0.03) & ((bad_gold - a).norm(dim=1) > C + 0.03)
        good = scene_of(a, good_gold, scene.heading, scene)
        bad = scene_of(a, bad_gold, scene.heading, scene)
    else:
        d0 = (a - g).norm(dim=1, keepdim=True)
        toward = (g - a) / d0
        closer, away = a + 0.6 * d0 * toward, a - (M + 0.06) * toward  # 0.4·d₀ from the gold; d₀ + m + 0.06
        good_agent, bad_agent = (closer, away) if kind == 0 else (away, closer)
        keep = inside(good_agent, AGENT_LO, AGENT_HI) & inside(bad_agent, AGENT_LO, AGENT_HI)
        heading = torch.atan2(toward[:, 1], toward[:, 0]) % (2 * math.pi)  # the moved agent also turns
        good = scene_of(good_agent, g, heading, scene)
        bad = scene_of(bad_agent, g, heading, scene)
    assert keep.sum() >= n // 3
    return scene[keep], good[keep], bad[keep]


# ------------------------------------------------------------------------------- the tasks
@pytest.mark.parametrize("task", TASKS)
def test_a_task_feeds_a_bare_scene_a_goal_and_no_target_image(task):
    module = registry.get(task)(batch_size=256)
    step = module.train_batch(0).steps[0]
    assert step.target is None and step.readout is not None and not step.has_answer
    assert step.readout.scene is step.input.scene and bool((step.readout.kind == TASKS[task]).all())
    scene = step.input.scene
    assert scene.gold.shape[1] == 1 and bool(scene.gold_valid.all())  # one coin, side walls only
    for i in range(len(scene)):
        (ax, ay), (gx, gy) = scene.agent[i].tolist(), scene.gold[i, 0].tolist()
        d0, corner = math.hypot(ax - gx, ay - gy), math.hypot(gx, gy)
        facts = {k: float(v[i]) for k, v in step.facts.items()}
        if task == "readout_closer":  # halfway must leave room beyond contact
            assert facts["input_distance"] == pytest.approx(d0, abs=1e-5)
            assert facts["bound"] == pytest.approx(d0 / 2, abs=1e-5) and d0 / 2 >= C + 0.05 - 1e-5
        elif task == "readout_further":  # some corner of the room is far enough
            far = max(math.hypot(x - gx, y - gy) for x in (AGENT_LO, AGENT_HI) for y in (AGENT_LO, AGENT_HI))
            assert facts["input_distance"] == pytest.approx(d0, abs=1e-5)
            assert facts["bound"] == pytest.approx(d0 + M, abs=1e-5) and far >= d0 + M
        else:  # the gold is not already in the corner
            assert facts["input_distance"] == pytest.approx(corner, abs=1e-5)
            assert facts["bound"] == pytest.approx(corner - M, abs=1e-5)
            assert corner - M > math.hypot(GOLD_LO, GOLD_LO)


def test_tasks_show_names_the_readout_target_and_its_bound(tmp_path):
    assert tasks_main(["show", "readout_closer", "--n", "3", "--size", "64", "--out", str(tmp_path)]) == 0
    records = [json.loads(line) for line in (tmp_path / "readout_closer.jsonl").read_text().splitlines()]
    assert (tmp_path / "readout_closer.png").stat().st_size > 0
    for record in records:
        step = record["steps"][0]
        assert step["target"] == "readout" and step["question"] == "readout_closer" and step["answer"] is None
        (ax, ay), (gx, gy) = step["scene"]["agent"], step["scene"]["gold"][0]
        assert step["facts"]["bound"] == pytest.approx(math.hypot(ax - gx, ay - gy) / 2, abs=1e-5)


# ------------------------------------------------------------------------------- the loss
@pytest.mark.parametrize("kind", [0, 1, 2])
def test_a_drawing_that_meets_the_goal_scores_lower_than_the_input_or_the_wrong_way(kind):
    scene, good, bad = met_and_missed(kind)
    goal = ReadoutGoal.of(kind, scene)
    drawn = {name: render(s, SIZE) for name, s in (("good", good), ("copy", scene), ("bad", bad))}
    totals = {name: sum(readout_parts(image, goal).values()) for name, image in drawn.items()}
    assert bool((totals["good"] < totals["copy"]).all()) and bool((totals["good"] < totals["bad"]).all())
    assert float(readout_loss(drawn["good"], goal)) < 0.5 < float(readout_loss(drawn["copy"], goal))
    # The hard check of the metric agrees, sample by sample.
    hard = {name: satisfied(goal, read_out(image)) for name, image in drawn.items()}
    assert bool(hard["good"].all()) and not bool(hard["copy"].any()) and not bool(hard["bad"].any())


def test_distances_use_both_coordinates():
    """dx = 0 and dy large: a y-blind distance (x reused for y) sees every pair as touching."""
    # closer: agent (0.5, 0.2), gold (0.5, 0.8): d₀ = 0.6; the agent at y = 0.55 is 0.25 away (≤ 0.3)
    # further: agent (0.5, 0.3), gold (0.5, 0.5): d₀ = 0.2; y = 0.85 is 0.35 away (≥ 0.3), y = 0.75 is not
    # upper-left: gold (0.2, 0.8) → (0.2, 0.5): to the corner 0.825 → 0.539 (≤ 0.725)
    cases = [(0, [0.5, 0.2], [0.5, 0.8], [0.5, 0.55], None),
             (1, [0.5, 0.3], [0.5, 0.5], [0.5, 0.85], [0.5, 0.75]),
             (2, [0.6, 0.3], [0.2, 0.8], [0.2, 0.5], None)]
    for kind, a, g, moved, short in cases:
        scene = scene_of([a], [g])
        goal = ReadoutGoal.of(kind, scene)
        agent, gold = torch.tensor([a]), torch.tensor([g])
        new = torch.tensor([moved])
        met = (agent, new) if kind == 2 else (new, gold)
        assert float(shortfall(goal, *met)) == 0, kind
        assert float(shortfall(goal, agent, gold)) > 0.04, kind  # the input misses by ≥ 0.05 (halfway, m)
        if short is not None:
            assert float(shortfall(goal, torch.tensor([short]), gold)) == pytest.approx(0.05, abs=1e-4)
        built = scene_of(*(([a], [moved]) if kind == 2 else ([moved], [g])))
        assert float(readout_loss(render(built, SIZE), goal)) < float(readout_loss(render(scene, SIZE), goal))


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_the_game_target_moves_the_objects_where_the_drawing_put_them(kind):
    scene, good, _ = met_and_missed(kind, 24)
    goal = ReadoutGoal.of(kind, scene)
    size = 128  # a 2-px coin, so that the gold's move shows in pixels
    drawing = render(good, size)
    target = game_target(goal, soft_read_out(drawing), size)
    to_built = (target - render(good, size)).pow(2).flatten(1).sum(1)  # squared error, pixels·channels
    to_input = (target - render(scene, size)).pow(2).flatten(1).sum(1)
    assert bool((to_built < 0.15 * to_input).all()), (to_built, to_input)
    # From the pixels: the moved object's colour sits at the built position, not at the input's.
    r, g, b = target[:, 0], target[:, 1], target[:, 2]
    gold_px = (r > 0.9) & (g > 0.6) & (g < 0.9) & (b < 0.2)
    body_px = (g > 0.9) & (r < 0.2) & (b < 0.2)
    mask = gold_px if kind == 2 else body_px
    rows, cols = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    n = mask.sum((1, 2)).float()
    centre = torch.stack([(mask * cols).sum((1, 2)) / n, (mask * rows).sum((1, 2)) / n], 1) / size
    built = good.first_gold() if kind == 2 else good.agent
    before = scene.first_gold() if kind == 2 else scene.agent
    err = (centre - built).norm(dim=1)
    assert bool((err < 1.5 / size + (0.6 * AGENT_RADIUS if kind != 2 else 0)).all())  # the eye hides part of the body
    assert bool((err < 0.3 * (built - before).norm(dim=1)).all())
    assert goal.scene is scene and torch.equal(goal.scene.agent, scene.agent)  # nothing written in place


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_degenerate_drawings_give_finite_losses_and_gradients(kind):
    scene = registry.get(list(TASKS)[kind])(batch_size=4).train_batch(0).steps[0].input.scene
    goal = ReadoutGoal.of(kind, scene)
    no_agent = render(scene, SIZE, hide_agent=True)
    drawings = {"blank": torch.ones(4, 3, SIZE, SIZE), "black": torch.zeros(4, 3, SIZE, SIZE),
                "noise": torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(kind)),
                "agent missing": no_agent}
    torch.manual_seed(0)
    brain = Brain.from_preset("tiny64")
    for name, drawing in drawings.items():
        pixels = drawing.clone().requires_grad_(True)
        loss = readout_loss(pixels, goal)
        loss.backward()
        assert torch.isfinite(loss) and loss > 0.5, (name, float(loss))
        assert bool(torch.isfinite(pixels.grad).all()), name
    # Through the brain: a drawing whose values are degenerate but whose gradient is the brain's.
    step = registry.get(list(TASKS)[kind])(batch_size=4).train_batch(0).render(SIZE).steps[0]
    for name, drawing in drawings.items():
        brain.zero_grad()
        result, _ = brain(BrainStep(image=step.image, prompt_ids=step.prompt_ids), BrainState.fresh(4, "cpu"))
        pixels = drawing + (result.image - result.image.detach())  # the values of `drawing`, the brain's gradient
        loss = readout_loss(pixels, goal)
        loss.backward()
        grads = [p.grad for p in brain.parameters() if p.grad is not None]
        assert torch.isfinite(loss) and grads and all(bool(torch.isfinite(g).all()) for g in grads), name


def test_bad_goals_and_drawings_are_one_line_errors():
    scene = scene_of([[0.3, 0.3]], [[0.7, 0.7]])
    with pytest.raises(ValueError, match="ReadoutGoal.kind: expected a long tensor \\[B=1\\]"):
        ReadoutGoal(torch.zeros(2, dtype=torch.long), scene)
    with pytest.raises(ValueError, match="prediction: expected \\[B=1, 3, S, S\\]"):
        readout_loss(torch.ones(2, 3, SIZE, SIZE), ReadoutGoal.of(0, scene))


# ------------------------------------------------------------------------------- training and metrics
@pytest.mark.parametrize("task", TASKS)
def test_one_training_step_reaches_the_brain_through_the_readout_term(task):
    torch.manual_seed(0)
    brain = Brain.from_preset("tiny64")
    episode = registry.get(task)(batch_size=4).train_batch(0).to("cpu").render(SIZE)
    assert episode.steps[0].readout is not None and episode.steps[0].image_target is None
    result = run_episode(brain, episode)
    assert set(result.terms) == {"readout", "lm", "kind"}
    assert all(bool(torch.isfinite(v)) for v in result.terms.values())
    result.terms["readout"].backward()
    grads = {n: p.grad for n, p in brain.named_parameters() if p.grad is not None}
    assert all(bool(torch.isfinite(g).all()) for g in grads.values())
    reached = {n.split(".")[0] for n, g in grads.items() if float(g.abs().sum()) > 0}
    assert {"image_decoder", "image_encoder"} <= reached, reached


def test_readout_terms_stay_off_for_every_other_task():
    assert TermWeights().readout == 0
    for name in registry.names():
        assert (registry.get(name).default_weights.readout > 0) == (name in TASKS), name


def test_validation_logs_the_share_of_drawings_that_meet_the_goal():
    scene, good, _ = met_and_missed(0, 32)
    n = len(scene)
    half = torch.arange(n) < n // 2
    drawing = torch.where(half.view(n, 1, 1, 1), render(good, SIZE), render(scene, SIZE))  # half meet it
    goal = ReadoutGoal.of(0, scene)
    step = EpisodeStep(prompt_ids=torch.ones(n, 2, dtype=torch.long), reply_ids=torch.ones(n, 2, dtype=torch.long),
                       answer_mask=torch.zeros(n, 1, dtype=torch.bool), lm_mask=torch.zeros(n, 1, dtype=torch.bool),
                       has_answer=False, question=torch.zeros(n, dtype=torch.long), readout=goal,
                       image=render(scene, SIZE))
    out = BrainOutput(text_logits=None, prompt_logits=None, image=drawing, value=torch.zeros(n),
                      selection_logits=torch.zeros(n, 1))
    episode = Episode("readout_closer", (step,), TermWeights(readout=1.0), question_kinds=("readout_closer",))
    metrics, logged = ValidationMetrics(["readout_closer"]), {}
    metrics.update(episode, EpisodeResult(terms={}, outputs=[out], state=None), torch.tensor(1.0))
    metrics.compute_and_log(lambda name, value, **kw: logged.__setitem__(name, float(value)),
                            SingleDeviceStrategy(device=torch.device("cpu")))
    assert logged["val/readout_closer/readout_acc"] == pytest.approx((n // 2) / n)
    assert "val/readout_closer/mse" not in logged  # no target image, no image error


def test_the_image_grid_shows_the_scene_read_out_of_each_drawing_framed_by_whether_it_meets_the_goal():
    scene, good, _ = met_and_missed(1, 24)
    n = 4
    drawing = torch.cat([render(good[:2], SIZE), render(scene[2:n], SIZE)])  # two meet the goal, two copy the input
    step = EpisodeStep(prompt_ids=torch.ones(n, 2, dtype=torch.long), reply_ids=torch.ones(n, 2, dtype=torch.long),
                       answer_mask=torch.zeros(n, 1, dtype=torch.bool), lm_mask=torch.zeros(n, 1, dtype=torch.bool),
                       has_answer=False, readout=ReadoutGoal.of(1, scene[:n]), image=render(scene[:n], SIZE))
    out = BrainOutput(text_logits=None, prompt_logits=None, image=drawing, value=torch.zeros(n),
                      selection_logits=torch.zeros(n, 1))
    grid = prediction_grid(Episode("readout_further", (step,), TermWeights(readout=1.0)), [out], n)
    assert grid.shape == (3, n * SIZE, 3 * SIZE + 4)
    for i in range(n):
        tile = grid[:, i * SIZE:(i + 1) * SIZE, SIZE + 2:2 * SIZE + 2]
        shown = good[i] if i < 2 else scene[i]  # the scene each drawing shows
        inner = (tile - render(shown, SIZE)[0])[:, 2:-2, 2:-2]
        assert float(inner.abs().mean()) < 0.01, i
        green = tile[:, 0, SIZE // 2].tolist()
        assert (green[1] > 0.5 > green[0]) == (i < 2), (i, green)  # green frame: met; red: missed
