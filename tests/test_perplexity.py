"""The language model's measure: `val/<task>/perplexity` weighs every LM token once (not every
batch), and `language`'s unigram reference is recomputed here from the pool's sentences with the
tokenizer alone."""
import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import Tensor

from datamodules import registry
from lit_modules.metrics import ValidationMetrics
from lit_modules.terms import EpisodeResult
from penguin.brain.step import BrainOutput
from penguin.episode import Episode, EpisodeStep, TermWeights

VOCAB = 6


def _lm_episode(generator: torch.Generator, n: int, length: int) -> tuple[Episode, EpisodeResult, Tensor]:
    """`n` prompts of `length` tokens with random logits; returns the per-token NLL it should score."""
    prompt = torch.randint(1, VOCAB, (n, length), generator=generator)
    mask = torch.ones(n, length - 1, dtype=torch.bool)
    mask[0, -2:] = False  # a shorter sentence: its last targets are not scored
    logits = torch.randn(n, length, VOCAB, generator=generator)
    step = EpisodeStep(prompt_ids=prompt, reply_ids=torch.ones(n, 2, dtype=torch.long),
                       answer_mask=torch.zeros(n, 1, dtype=torch.bool), lm_mask=mask, has_answer=False)
    out = BrainOutput(text_logits=None, prompt_logits=logits, image=None, value=torch.zeros(n),
                      selection_logits=torch.zeros(n, 1))
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), prompt[:, 1:].reshape(-1), reduction="none")
    episode = Episode(task="language", steps=(step,), weights=TermWeights(lm=1.0), question_kinds=())
    return episode, EpisodeResult(terms={}, outputs=[out], state=None), nll[mask.flatten()]



def test_perplexity_is_the_exp_of_the_mean_nll_over_all_tokens():
    g = torch.Generator().manual_seed(0)
    metrics = ValidationMetrics(["language"])
    small, big = _lm_episode(g, 2, 4), _lm_episode(g, 16, 9)  # 4 and 126 scored tokens
    for episode, result, _ in (small, big):
        metrics.update(episode, result, torch.tensor(1.0))
    logged = {}
    metrics.compute_and_log(lambda name, value, **kw: logged.__setitem__(name, float(value)),
                            SingleDeviceStrategy(device=torch.device("cpu")))
    tokens = torch.cat([small[2], big[2]])
    assert logged["val/language/perplexity"] == pytest.approx(math.exp(tokens.mean().item()), rel=1e-5)
    batch_mean = (small[2].mean() + big[2].mean()) / 2  # what a per-batch average would give
    assert abs(logged["val/language/perplexity"] - math.exp(batch_mean.item())) > 1e-3


@pytest.mark.parametrize("why", ["no LM tokens", "LM term off"])
def test_a_task_that_does_not_train_the_lm_logs_no_perplexity(why):
    g = torch.Generator().manual_seed(1)
    episode, result, _ = _lm_episode(g, 3, 5)
    step = episode.steps[0]
    if why == "no LM tokens":
        step = EpisodeStep(prompt_ids=step.prompt_ids, reply_ids=step.reply_ids, answer_mask=step.answer_mask,
                           lm_mask=torch.zeros_like(step.lm_mask), has_answer=False, has_lm=False)
    weights = TermWeights(lm=1.0 if why == "no LM tokens" else 0.0)  # a question's prompt: lm weight 0
    metrics = ValidationMetrics(["language"])
    metrics.update(Episode(task="language", steps=(step,), weights=weights, question_kinds=()),
                   result, torch.tensor(1.0))
    logged = {}
    metrics.compute_and_log(lambda name, value, **kw: logged.__setitem__(name, float(value)),
                            SingleDeviceStrategy(device=torch.device("cpu")))
    assert "val/language/loss" in logged and "val/language/perplexity" not in logged


def test_unigram_perplexity_is_the_pool_token_frequencies_perplexity():
    task = registry.get("language")(pool_size=300)
    counts = Counter(token for sentence in task.pool.strings for token in task.tokenizer.encode(sentence))
    total = sum(counts.values())
    entropy = -sum(c / total * math.log(c / total) for c in counts.values())
    unigram = task.baselines()["unigram_perplexity"]
    assert unigram == pytest.approx(math.exp(entropy), rel=1e-9)
    assert 1 < unigram < len(counts)  # below uniform over the tokens used: the frequencies are uneven


def test_only_language_has_a_unigram_baseline():
    assert set(registry.get("side_qa")().baselines()) == {"chance_exact_acc"}  # tests/test_chance.py
    assert registry.get("arrow")().baselines() == {}
