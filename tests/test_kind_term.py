"""The `kind` loss term: the brain names the question kind of each prompt, by the class its kind
vocabulary gives the kind, read from the question alone (see `Brain` and `lit_modules.terms`); the
vocabulary travels with the weights and never renumbers a kind it knows."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from datamodules import registry
from lit_modules.terms import run_episode
from penguin.brain import Brain, BrainState, BrainStep
from penguin.brain.kinds import LEGACY_KINDS

LEGACY_CHECKPOINT = Path(__file__).parent / "data" / "penguin-0.1-width16.ckpt"


@pytest.fixture(scope="module")
def brain():
    torch.manual_seed(0)
    return Brain.from_preset("tiny64").eval()


def _kind_of_prompt(text: str) -> str:
    """The kind whose prompts hold `text`, found from the registry's strings alone."""
    owners = [name for name, (_, k) in registry.question_kinds().items() if text in k.expand(paraphrases=True)]
    assert len(owners) == 1, (text, owners)
    return owners[0]


def test_a_kind_keeps_its_class_when_tasks_are_added_or_reordered():
    trained = Brain.from_preset("tiny64")
    trained.kind_vocabulary.add(["near_gold", "facing_gold"])
    state = trained.state_dict()
    assert state["kind_vocabulary._extra_state"] == {"names": ["near_gold", "facing_gold"]}
    # A later run registers other tasks first (as BrainModule.setup does), then loads the checkpoint.
    later = Brain.from_preset("tiny64")
    later.kind_vocabulary.add(["gold_left_right", "facing_gold", "turn_to_gold"])
    later.load_state_dict(state)
    assert [later.kind_vocabulary.id(k) for k in ("near_gold", "facing_gold", "gold_left_right", "turn_to_gold")] \
        == [0, 1, 2, 3]
    assert later.kind_vocabulary.ids(("turn_to_gold", "near_gold"), torch.device("cpu")).tolist() == [3, 0]
    with pytest.raises(ValueError, match="question kind 'zoom' is not in the brain's kind vocabulary"):
        later.kind_vocabulary.id("zoom")


def test_more_kinds_than_classes_is_a_one_line_error():
    small = Brain.from_preset("tiny64", question_kinds=2)
    small.kind_vocabulary.add(["a", "b"])
    with pytest.raises(ValueError, match="more than 2 question kinds.*raise model.brain.question_kinds"):
        small.kind_vocabulary.add(["c"])


def test_a_checkpoint_without_a_vocabulary_keeps_its_kinds_meaning():
    """Penguin 0.1 numbered kinds by their position in its prompt registry."""
    state = torch.load(LEGACY_CHECKPOINT, map_location="cpu", weights_only=False)["state_dict"]
    assert not any(k.endswith("_extra_state") for k in state)
    config = dict(width=16, memory_slots=2, **{f"{c}_heads": 2 for c in ("image_encoder", "image_decoder",
                  "text_encoder", "text_decoder", "context_encoder", "memory_encoder")})
    brain = Brain.from_preset("tiny64", **config)
    brain.kind_vocabulary.add(["near_gold"])
    brain.load_state_dict({k.removeprefix("brain."): v for k, v in state.items() if k.startswith("brain.")})
    assert brain.kind_vocabulary.names == list(LEGACY_KINDS)
    assert brain.kind_vocabulary.id("near_gold") == 6 and brain.kind_vocabulary.id("copy_scene") == 18


def test_the_kind_term_is_the_cross_entropy_against_the_kind_each_prompt_belongs_to(brain):
    # Asked in this order, the episode numbers agent_left_right 0 and gold_left_right 1; the term
    # must use the classes the vocabulary gave them instead, recovered here from the prompt's text.
    brain.kind_vocabulary.add(["near_gold", "gold_left_right", "agent_left_right"])
    module = registry.get("side_qa")(batch_size=16, image_size=64, seed=3,
                                     kinds=["agent_left_right", "gold_left_right"])
    episode = module.train_batch(0).render(64)
    step = episode.steps[0]
    with torch.no_grad():
        result = run_episode(brain, episode)
    texts = [module.tokenizer.decode(ids, skip_special=True) for ids in step.prompt_ids]
    target = torch.tensor([brain.kind_vocabulary.id(_kind_of_prompt(t)) for t in texts])
    assert len(set(target.tolist())) == 2  # both kinds were asked
    expected = F.cross_entropy(result.outputs[0].kind_logits, target)
    torch.testing.assert_close(result.terms["kind"], expected)


def test_samples_without_a_question_kind_are_left_out_of_the_term(brain):
    module = registry.get("near_gold_qa")(batch_size=8, image_size=64, seed=0)
    episode = module.train_batch(0).render(64)
    step = episode.steps[0]
    unasked = step.question.clone()
    unasked[::2] = -1
    episode = episode.__class__(episode.task, (step.__class__(**{**step.__dict__, "question": unasked}),),
                                episode.weights, episode.label_names, episode.question_kinds)
    with torch.no_grad():
        result = run_episode(brain, episode)
    target = torch.full((4,), brain.kind_vocabulary.id("near_gold"))
    expected = F.cross_entropy(result.outputs[0].kind_logits[1::2], target)
    torch.testing.assert_close(result.terms["kind"], expected)


def test_kind_logits_read_the_prompt_alone(brain):
    prompt = torch.randint(1, 100, (2, 9))
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        one, _ = brain(BrainStep(image=images, prompt_ids=prompt), BrainState.fresh(2, "cpu"))
        other, _ = brain(BrainStep(image=images.flip(-1), prompt_ids=prompt), BrainState.fresh(2, "cpu"))
        reworded, _ = brain(BrainStep(image=images, prompt_ids=prompt.flip(-1)), BrainState.fresh(2, "cpu"))
        silent, _ = brain(BrainStep(image=images), BrainState.fresh(2, "cpu"))
    assert one.kind_logits.shape == (2, brain.config.question_kinds)
    torch.testing.assert_close(one.kind_logits, other.kind_logits)
    assert not torch.allclose(one.kind_logits, reworded.kind_logits)
    assert silent.kind_logits is None


def test_a_penguin_0_1_checkpoint_still_evaluates(tmp_path):
    from penguin.evaluate import evaluate

    table = evaluate(LEGACY_CHECKPOINT, batch_size=4, val_batches=1, out=tmp_path)
    assert set(table) == {"side_qa", "arrow", "near_gold_qa"}
    assert all(math.isfinite(metrics["loss"]) for metrics in table.values())
    assert {"gold_left_right/exact_acc", "copy_scene/mse"} <= set(table["side_qa"]) | set(table["arrow"])
