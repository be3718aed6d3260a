"""The `kind` loss term: the brain names the question kind of each prompt, by the kind's
brain-wide id, read from the question alone (see `Brain` and `lit_modules.terms`)."""
import pytest
import torch
import torch.nn.functional as F

from datamodules import registry
from lit_modules.terms import run_episode
from penguin.brain import Brain, BrainState, BrainStep
from penguin.text.prompts import QUESTION_KINDS, kind_id


@pytest.fixture(scope="module")
def brain():
    torch.manual_seed(0)
    return Brain.from_preset("tiny64").eval()


def _kind_of_prompt(text: str) -> str:
    """The kind whose prompts hold `text`, found from the registry's strings alone."""
    owners = [k.name for k in QUESTION_KINDS.values() if text in k.expand(paraphrases=True)]
    assert len(owners) == 1, (text, owners)
    return owners[0]


def test_kind_ids_number_the_registry_in_order():
    assert [kind_id(name) for name in QUESTION_KINDS] == list(range(len(QUESTION_KINDS)))
    with pytest.raises(ValueError, match="unknown question kind 'gold_diagonal'"):
        kind_id("gold_diagonal")
    assert Brain.from_preset("tiny64").config.question_kinds >= len(QUESTION_KINDS)


def test_the_kind_term_is_the_cross_entropy_against_the_kind_each_prompt_belongs_to(brain):
    # Asked in this order, the episode numbers agent_left_right 0 and gold_left_right 1; the term
    # must use their registry ids instead, recovered here from the prompt's text.
    module = registry.get("side_qa")(batch_size=16, image_size=64, seed=3,
                                     kinds=["agent_left_right", "gold_left_right"])
    episode = module.train_batch(0).render(64)
    step = episode.steps[0]
    with torch.no_grad():
        result = run_episode(brain, episode)
    texts = [module.tokenizer.decode(ids, skip_special=True) for ids in step.prompt_ids]
    target = torch.tensor([list(QUESTION_KINDS).index(_kind_of_prompt(t)) for t in texts])
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
    target = torch.full((4,), kind_id("near_gold"))
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
