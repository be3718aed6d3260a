"""The memory tasks: recall, recall_routing, memory_autoencode.

Targets are recomputed independently: which earlier step a target shows is read from the prompt's
words and found again by comparing the rendered pixels with every step's input image; where a
view sits at the last step is read off the brain's own canvases after running the earlier steps.
Reachability is tested on the brain: the last step run on a fresh (or perfect-canvas, zero-memory)
state gives the same outputs whatever the earlier scenes were, and the last step's loss reaches
the first step only through the carried state."""
from __future__ import annotations

import dataclasses

import lightning as L
import pytest
import torch
import torch.nn.functional as F

import datamodules.memory_autoencode as memory_autoencode_module
import datamodules.recall_task as recall_task_module
from callbacks.memory_reset import MemoryReset
from datamodules import registry
from datamodules.mixture import TaskMixture
from lit_modules.brain_module import BrainModule
from lit_modules.terms import image_loss, run_episode
from penguin.brain import Brain, BrainState, BrainStep
from penguin.episode import Episode, View
from penguin.game.control import ControlViews, sample_control
from penguin.game.sampling import sample_bare
from penguin.game.scene import Scene
from penguin.recall import RecallViews, draw_recall
from penguin.testing import records

SIZE = 64
AGO_WORDS = {"one step ago": 1, "two steps ago": 2, "three steps ago": 3}


@pytest.fixture(scope="module")
def brain():
    torch.manual_seed(0)
    return Brain.from_preset("tiny64").eval()


def asked_k(prompt: str) -> int:
    """k from the words of a recall prompt: "current"/"now" is 0, "<n> step(s) ago" is n."""
    found = [k for words, k in AGO_WORDS.items() if prompt.endswith(words) or prompt.endswith(words + "?")]
    if "current view" in prompt or "see now" in prompt:
        found.append(0)
    assert len(found) == 1, prompt
    return found[0]


def same(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`[B]`: which samples of two image batches are pixel-identical."""
    return (a == b).flatten(1).all(dim=1)


def last_step_alone(brain: Brain, episode: Episode, state: BrainState | None = None):
    step = episode.steps[-1]
    state = state or BrainState.fresh(episode.batch_size, "cpu")
    return brain(BrainStep(image=step.image, prompt_ids=step.prompt_ids), state)[0]


# --------------------------------------------------------------------------------- recall
@pytest.mark.parametrize("task", ["recall", "recall_routing"])
def test_the_last_step_asks_for_the_view_its_prompt_names(task):
    module, spec, samples = records(task, 256)
    episode = spec.render(SIZE)
    inputs = [s.image for s in episode.steps]
    ks = torch.tensor([asked_k(r["steps"][-1]["prompt"]) for r in samples])
    rates = torch.bincount(ks, minlength=4).float() / len(ks)
    assert (rates - 0.25).abs().max() < 0.07, rates
    # The four scenes of an episode are different images (independent draws).
    for a in range(4):
        for b in range(a):
            assert not same(inputs[a], inputs[b]).any()
    for s, step in enumerate(episode.steps[:-1]):  # steps 1..3 reconstruct their own view
        assert torch.equal(step.image_target, step.image) and step.slot_target is None
        assert all(r["steps"][s]["facts"] == {"recalled_step": s + 1, "k": 0} for r in samples)
    last = episode.steps[-1]
    for i, r in enumerate(samples):
        k = int(ks[i])
        assert r["steps"][-1]["facts"] == {"recalled_step": 4 - k, "k": k}
        if task == "recall":  # the target is exactly the image step 4 − k was shown, and no other
            assert [bool(same(last.image_target[i:i + 1], x[i:i + 1])) for x in inputs] == [s == 3 - k for s in range(4)]
        else:
            assert last.image_target is None and int(last.slot_target[i]) == k
    assert {r["steps"][-1]["question"] for r in samples} == ({"recall"} if task == "recall" else {"route_recall"})


def swapped_earlier_scenes(monkeypatch, module_under_test, seed: int):
    """Make the task's `draw_recall` replace steps 1..3 by other scenes: same k, step 4 and
    generator stream, so every prompt and step 4's input stay the same."""
    def draw(generator, batch):
        drawn = draw_recall(generator, batch)
        other = sample_bare(torch.Generator().manual_seed(seed), 3 * batch)
        scenes = Scene.cat([other, drawn.views.scene[torch.arange(3 * batch, 4 * batch)]])
        return RecallViews(View.of(scenes), drawn.ago)

    monkeypatch.setattr(module_under_test, "draw_recall", draw)


def test_recall_last_step_on_a_fresh_state_cannot_see_the_target(monkeypatch, brain):
    module = registry.get("recall")(batch_size=16)
    original = module.train_batch(0).render(SIZE)
    swapped_earlier_scenes(monkeypatch, recall_task_module, seed=123)
    changed = module.train_batch(0).render(SIZE)
    k = original.steps[-1].facts["k"]
    a, b = original.steps[-1], changed.steps[-1]
    assert torch.equal(a.image, b.image) and torch.equal(a.prompt_ids, b.prompt_ids)
    # The target moved with the earlier scenes exactly where k >= 1 ...
    assert torch.equal(same(a.image_target, b.image_target), k == 0) and (k > 0).any()
    with torch.no_grad():
        fresh_a, fresh_b = last_step_alone(brain, original), last_step_alone(brain, changed)
        carried_a = run_episode(brain, original).outputs[-1]
        carried_b = run_episode(brain, changed).outputs[-1]
    # ... yet the last step alone gives the same outputs: nothing of the target is in its inputs.
    assert torch.equal(fresh_a.image, fresh_b.image)
    assert torch.equal(fresh_a.selection_logits, fresh_b.selection_logits)
    # Carrying the state is what brings the earlier scenes in.
    assert not torch.allclose(carried_a.image, carried_b.image)


def with_step_one_image_requiring_grad(episode: Episode) -> tuple[Episode, torch.Tensor]:
    image = episode.steps[0].image.clone().requires_grad_()
    steps = (dataclasses.replace(episode.steps[0], image=image),) + episode.steps[1:]
    return dataclasses.replace(episode, steps=steps), image


def test_recall_loss_reaches_the_first_step_only_through_the_carried_state(brain):
    episode = registry.get("recall")(batch_size=8).train_batch(0).render(SIZE)
    episode, image = with_step_one_image_requiring_grad(episode)
    target = episode.steps[-1].image_target
    writer = list(brain.memory_encoder.parameters())

    loss = image_loss(run_episode(brain, episode).outputs[-1].image, target)
    grads = torch.autograd.grad(loss, [image] + writer, allow_unused=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0  # through the canvases and the memory
    # The memory writer runs before step 4 only in steps 1..3: its gradient is the carried memory's.
    assert all(g is not None for g in grads[1:]) and sum(g.abs().sum() for g in grads[1:]) > 0

    alone = image_loss(last_step_alone(brain, episode).image, target)
    grads = torch.autograd.grad(alone, [image] + writer, allow_unused=True)
    assert all(g is None or not g.any() for g in grads)


# --------------------------------------------------------------------------------- recall_routing
@pytest.mark.parametrize("start", ["fresh", "carried"])
def test_the_slot_target_indexes_the_canvas_that_holds_the_view(brain, start):
    episode = registry.get("recall_routing")(batch_size=16).train_batch(0).render(SIZE)
    b = episode.batch_size
    state = None
    if start == "carried":  # a state carried from another batch: any canvases, any memory
        g = torch.Generator().manual_seed(5)
        state = BrainState(torch.rand(b, 3, 3, SIZE, SIZE, generator=g),
                           torch.randn(b, brain.config.memory_slots, brain.config.width, generator=g), b,
                           torch.device("cpu"))
    earlier = dataclasses.replace(episode, steps=episode.steps[:3])
    with torch.no_grad():
        result = run_episode(brain, earlier, state)
    canvases, drawn = result.state.canvases, [out.image for out in result.outputs]
    slot = episode.steps[-1].slot_target
    for i in range(b):
        k = int(slot[i])
        if k > 0:  # selection index k is canvas k − 1, the brain's drawing of step 4 − k
            assert torch.equal(canvases[i, k - 1], drawn[3 - k][i])
            assert not torch.equal(canvases[i, k - 1], episode.steps[-1].image[i])
    for c in range(3):  # every canvas: canvas c holds the drawing of step 3 − c
        assert torch.equal(canvases[:, c], drawn[2 - c])
    assert set(slot.tolist()) == {0, 1, 2, 3} and episode.steps[-1].image is not None  # 0: the input


def test_the_slot_term_is_one_cross_entropy_over_the_logits(brain):
    episode = registry.get("recall_routing")(batch_size=16).train_batch(0).render(SIZE)
    with torch.no_grad():
        result = run_episode(brain, episode)
    logits, slot = result.outputs[-1].selection_logits, episode.steps[-1].slot_target
    assert torch.isfinite(logits).all()  # step 4 has an input image
    by_hand = -logits.log_softmax(dim=-1)[torch.arange(len(slot)), slot].mean()
    assert torch.allclose(result.terms["slot"], by_hand, atol=1e-6)
    assert torch.allclose(result.terms["slot"], F.cross_entropy(logits, slot))
    # The original's bug, a second softmax over the weights, gives another value.
    doubled = F.cross_entropy(logits.softmax(dim=-1), slot)
    sharp = logits * 10  # even at initialisation's near-flat logits the two differ; sharper, far more
    assert not torch.allclose(doubled, result.terms["slot"], atol=1e-4)
    assert (F.cross_entropy(sharp.softmax(dim=-1), slot) - F.cross_entropy(sharp, slot)).abs() > 0.01
    # Only step 4 carries the slot term; steps 1..3 carry the image term.
    assert [s.slot_target is not None for s in episode.steps] == [False, False, False, True]


@pytest.mark.parametrize("task, image_steps", [("recall", 4), ("recall_routing", 3), ("memory_autoencode", 8)])
def test_the_image_term_averages_over_the_steps_with_a_target(brain, task, image_steps):
    episode = registry.get(task)(batch_size=4).train_batch(0).render(SIZE)
    with torch.no_grad():
        result = run_episode(brain, episode)
    per_step = [image_loss(out.image, step.image_target) for out, step in zip(result.outputs, episode.steps)
                if step.image_target is not None]
    assert len(per_step) == image_steps
    assert torch.allclose(result.terms["image"], torch.stack(per_step).mean())


# --------------------------------------------------------------------------------- memory_autoencode
def test_memory_autoencode_replays_the_views_in_order_and_no_canvas_holds_them(brain):
    module, spec, samples = records("memory_autoencode", 64)
    episode = spec.render(SIZE)
    seen = [s.image for s in episode.steps[:4]]
    assert len(episode.steps) == 8
    for t, step in enumerate(episode.steps, start=1):
        prompts = {r["steps"][t - 1]["prompt"] for r in samples}
        if t <= 4:
            assert torch.equal(step.image_target, step.image)
            assert not any("four steps ago" in p for p in prompts)
            continue
        assert step.image is None and all("four steps ago" in p for p in prompts)
        # The target is the image see step t − 4 was shown ...
        assert torch.equal(step.image_target, seen[t - 5])
        assert all(r["steps"][t - 1]["facts"] == {"recalled_step": t - 4} for r in samples)
        # ... and none of the images a perfect reconstructor's canvases hold at step t (the
        # targets of steps t − 1, t − 2, t − 3), unless it has nothing to remember (one colour: a
        # zoom into empty floor or into a wall).
        pixels = step.image_target.flatten(1)
        featureless = pixels.amax(dim=1) == pixels.amin(dim=1)
        for j in (t - 1, t - 2, t - 3):
            equal = same(step.image_target, episode.steps[j - 1].image_target)
            assert not (equal & ~featureless).any(), (t, j)
    # The brain's canvases at replay step 5 are its drawings of steps 4, 3, 2: the drawing of step
    # 1 is gone.
    first = dataclasses.replace(episode, steps=episode.steps[:4])
    with torch.no_grad():
        result = run_episode(brain, first)
    for c in range(3):
        assert torch.equal(result.state.canvases[:, c], result.outputs[3 - c].image)


def test_memory_autoencode_replay_with_zero_memory_cannot_know_the_first_view(monkeypatch, brain):
    module = registry.get("memory_autoencode")(batch_size=8, replays=1)
    original = module.train_batch(0).render(SIZE)

    def draw(generator, batch):  # the same views and stream, but another first view
        views = sample_control(generator, batch)
        first = sample_control(torch.Generator().manual_seed(77), batch // 4)
        rest = torch.arange(batch // 4, batch)
        return ControlViews(Scene.cat([first.scene, views.scene[rest]]),
                            torch.cat([first.zoom_center, views.zoom_center[rest]]),
                            torch.cat([first.zoom_factor, views.zoom_factor[rest]]))

    monkeypatch.setattr(memory_autoencode_module, "sample_control", draw)
    changed = module.train_batch(0).render(SIZE)
    a, b = original.steps[-1], changed.steps[-1]
    assert a.image is None and torch.equal(a.prompt_ids, b.prompt_ids)
    assert not same(a.image_target, b.image_target).all()  # the replay target is the first view
    for s in range(1, 4):  # the other views are unchanged
        assert torch.equal(original.steps[s].image, changed.steps[s].image)

    def perfect(episode: Episode) -> BrainState:
        """What a perfect reconstructor carries into step 5, memory zeroed: canvases = the views of
        steps 4, 3, 2 (newest first)."""
        canvases = torch.stack([episode.steps[j].image_target for j in (3, 2, 1)], dim=1)
        memory = torch.zeros(episode.batch_size, brain.config.memory_slots, brain.config.width)
        return BrainState(canvases, memory, episode.batch_size, torch.device("cpu"))

    with torch.no_grad():
        zeroed = [last_step_alone(brain, e, perfect(e)).image for e in (original, changed)]
        remembered = [run_episode(brain, e).outputs[-1].image for e in (original, changed)]
    assert torch.equal(zeroed[0], zeroed[1])  # canvases and prompt hold nothing of the first view
    assert not torch.allclose(remembered[0], remembered[1])  # the carried state does


def test_memory_autoencode_rejects_a_bad_replay_count():
    for bad in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match="memory_autoencode.replays: expected an int in 1..4"):
            registry.get("memory_autoencode")(replays=bad)
    assert len(registry.get("memory_autoencode")(batch_size=2, replays=2).train_batch(0).steps) == 6


# --------------------------------------------------------------------------------- training
@pytest.mark.parametrize("task", ["recall", "recall_routing", "memory_autoencode"])
def test_one_training_step_reaches_every_parameter_the_task_should(task):
    torch.manual_seed(0)
    brain = Brain.from_preset("tiny64")
    module = registry.get(task)(batch_size=4)
    episode = module.train_batch(0).render(SIZE)
    result = run_episode(brain, episode)
    weights = module.weights.as_dict()
    assert set(result.terms) == {name for name, w in weights.items() if w > 0}
    sum(weights[name] * value for name, value in result.terms.items()).backward()
    # No reply is decoded and no value is scored: the text decoder and the value head are the
    # only parts these tasks leave alone.
    untouched = ("text_decoder.", "value_head.")
    for name, p in brain.named_parameters():
        if name.startswith(untouched):
            assert p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.any(), name


class KeepLastState(L.Callback):
    """The state a training batch ended with, before `MemoryReset` (later in the list) takes it."""

    def __init__(self) -> None:
        self.ended: list[BrainState] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.ended.append(pl_module.last_state)


def test_a_multi_step_episode_carries_its_graph_within_and_is_cut_between_optimizer_steps():
    torch.manual_seed(0)
    module = BrainModule(preset="tiny64", tasks=["recall"], warmup_steps=1)
    data = TaskMixture(tasks=["recall"], batch_size=4, val_batches=1, sampler="uniform")
    memory, kept = MemoryReset("every_n_steps", every_n_steps=100), KeepLastState()
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0, callbacks=[kept, memory])
    trainer.fit(module, data)
    assert len(kept.ended) == 2
    for state in kept.ended:  # within the batch: the four steps' state is one graph
        assert state.canvases.grad_fn is not None and state.memory.grad_fn is not None
    carried = memory.state  # between optimizer steps: the same values, the graph cut
    assert torch.equal(carried.canvases, kept.ended[-1].canvases.detach())
    assert carried.canvases.grad_fn is None and not carried.memory.requires_grad
