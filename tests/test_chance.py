"""`TaskDataModule.baselines()["chance_exact_acc"]`: the accuracy of answering a kind's most
frequent training answer, scored on the task's own validation batches — recomputed here from the
batches' labels alone."""
from collections import Counter

import pytest

from datamodules import registry
from datamodules.base import _answered


def _pairs(task, specs):
    pairs = []
    for spec in specs:
        kinds, labels = _answered(spec)
        pairs += list(zip(kinds.tolist(), labels.tolist()))
    return pairs


def _expected(task) -> float:
    """The training majority per kind (the same draws as `baselines`), scored on validation."""
    from penguin.seeding import generator_for

    train, i = [], 0
    while len(train) < 2000:
        train += _pairs(task, [task.sample(generator_for(task.seed, task.name, "chance", i), 256)])
        i += 1
    majority = {}
    for kind in {k for k, _ in train}:
        counts = Counter(label for k, label in train if k == kind)
        top = max(counts.values())
        majority[kind] = max(label for label, n in counts.items() if n == top)  # ties: the larger label
    val = _pairs(task, [task.validation_batch(key) for key in task.validation_keys()])
    return sum(majority[k] == label for k, label in val) / len(val)


@pytest.mark.parametrize("name", ["side_qa", "turn_qa"])
def test_balanced_chance_is_one_over_the_answers(name):
    task = registry.get(name)(val_batches=16)
    chance = task.baselines()["chance_exact_acc"]
    assert chance == pytest.approx(_expected(task))
    assert chance == pytest.approx(0.5, abs=0.05)  # two answers per kind, 512 samples


def test_unbalanced_chance_is_the_majority_rate():
    task = registry.get("near_gold_qa")(balanced=False, val_batches=16)
    chance = task.baselines()["chance_exact_acc"]
    assert chance == pytest.approx(_expected(task))
    labels = Counter(label for _, label in _pairs(task, [task.validation_batch(k) for k in task.validation_keys()]))
    assert chance == pytest.approx(max(labels.values()) / sum(labels.values()), abs=0.05)
    assert chance > 0.6  # unbalanced, "is the gold near?" is mostly one answer


def test_tasks_without_class_answers_have_no_chance():
    assert "chance_exact_acc" not in registry.get("arrow")().baselines()
    language = registry.get("language")().baselines()
    assert set(language) == {"unigram_perplexity"}
