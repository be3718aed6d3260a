"""`ValidationMetrics` on synthetic episodes whose answers and images are right or wrong by
construction: every question kind of a task is logged on its own (ten kinds here, more than the
eight the per-kind sums once held), the task metrics match, and a validation starts from zero."""
import pytest
import torch
from lightning.pytorch.strategies import SingleDeviceStrategy

from lit_modules.metrics import ValidationMetrics
from lit_modules.terms import EpisodeResult
from penguin.brain.step import BrainOutput
from penguin.episode import Episode, EpisodeStep, TermWeights

KINDS = tuple(f"kind_{k}" for k in range(10))
PER_KIND, VOCAB, SIZE = 4, 7, 8


def _episode(task: str = "many_kinds", kinds: tuple[str, ...] = KINDS) -> tuple[Episode, EpisodeResult]:
    """Kind k: `k % 5` of its 4 answers exact, and an image off by 0.01·(k+1) everywhere."""
    n = len(kinds) * PER_KIND
    question = torch.arange(n) // PER_KIND
    reply = torch.tensor([[1, 3, 2]]).repeat(n, 1)  # <s> answer </s>
    logits = torch.zeros(n, 3, VOCAB)
    logits[:, 0, 3] = logits[:, 1, 2] = 1.0  # the right answer and </s>...
    wrong = (torch.arange(n) % PER_KIND) >= (question % 5)
    logits[wrong, 0, 3], logits[wrong, 0, 4] = 0.0, 1.0  # ...but the wrong answer token
    target = torch.rand(n, 3, SIZE, SIZE) * 0.5
    prediction = target + 0.01 * (question + 1).float().view(n, 1, 1, 1)
    prompt = torch.ones(n, 2, dtype=torch.long)
    steps = (EpisodeStep(prompt_ids=prompt, reply_ids=reply, answer_mask=torch.ones(n, 2, dtype=torch.bool),
                         lm_mask=torch.zeros(n, 1, dtype=torch.bool), question=question),
             EpisodeStep(prompt_ids=prompt, reply_ids=reply, answer_mask=torch.zeros(n, 2, dtype=torch.bool),
                         lm_mask=torch.zeros(n, 1, dtype=torch.bool), question=question, image_target=target,
                         has_answer=False))
    outputs = [BrainOutput(text_logits=logits, prompt_logits=None, image=None, value=torch.zeros(n),
                           selection_logits=torch.zeros(n, 1)),
               BrainOutput(text_logits=None, prompt_logits=None, image=prediction, value=torch.zeros(n),
                           selection_logits=torch.zeros(n, 1))]
    episode = Episode(task=task, steps=steps, weights=TermWeights(), question_kinds=kinds)
    return episode, EpisodeResult(terms={}, outputs=outputs, state=None)


def _validate(metrics: ValidationMetrics, *episodes, errors_out: dict | None = None
              ) -> tuple[dict[str, float], dict[str, float]]:
    logged: dict[str, float] = {}

    def log(name, value, **kwargs):
        logged[name] = float(value)

    for episode, result, loss in episodes:
        metrics.update(episode, result, torch.tensor(loss))
    losses, errors = metrics.compute_and_log(log, SingleDeviceStrategy(device=torch.device("cpu")))
    if errors_out is not None:
        errors_out.update(errors)
    return losses, logged


def test_every_question_kind_of_a_task_is_logged_on_its_own():
    metrics = ValidationMetrics(["many_kinds", "idle"])
    metrics.set_kinds("many_kinds", KINDS)
    episode, result = _episode()
    losses, logged = _validate(metrics, (episode, result, 2.0), (episode, result, 4.0))
    assert losses == {"many_kinds": pytest.approx(3.0)}  # "idle" had no episode: nothing of it is logged
    assert not any(name.startswith("val/idle/") for name in logged)
    for k, kind in enumerate(KINDS):
        assert logged[f"val/many_kinds/{kind}/exact_acc"] == pytest.approx((k % 5) / PER_KIND), kind
        assert logged[f"val/many_kinds/{kind}/mse"] == pytest.approx((0.01 * (k + 1)) ** 2, rel=1e-4), kind
    assert logged["val/many_kinds/exact_acc"] == pytest.approx(sum(k % 5 for k in range(10)) / 40)
    assert logged["val/many_kinds/mse"] == pytest.approx(sum((0.01 * (k + 1)) ** 2 for k in range(10)) / 10, rel=1e-4)
    assert logged["val/many_kinds/loss"] == pytest.approx(3.0)


def _edit_episode(task: str = "edit", wrong_pixels: int = 3) -> tuple[Episode, EpisodeResult]:
    """An image step whose target changes 8 pixels of the input; the prediction is the target with
    `wrong_pixels` of those 8 left as in the input: edit ratio `wrong_pixels` / 8."""
    n = 2
    image = torch.zeros(n, 3, SIZE, SIZE)
    target = image.clone()
    target[:, :, 0, :] = 1.0  # row 0: the edit
    prediction = target.clone()
    prediction[:, :, 0, :wrong_pixels] = 0.0
    step = EpisodeStep(prompt_ids=torch.ones(n, 2, dtype=torch.long), reply_ids=torch.ones(n, 3, dtype=torch.long),
                       answer_mask=torch.zeros(n, 2, dtype=torch.bool), lm_mask=torch.zeros(n, 1, dtype=torch.bool),
                       image=image, image_target=target, has_answer=False)
    output = BrainOutput(text_logits=None, prompt_logits=None, image=prediction, value=torch.zeros(n),
                         selection_logits=torch.zeros(n, 1))
    return (Episode(task=task, steps=(step,), weights=TermWeights()),
            EpisodeResult(terms={}, outputs=[output], state=None))


def test_the_error_is_one_minus_exact_accuracy_else_the_edit_ratio():
    metrics = ValidationMetrics(["many_kinds", "edit", "idle"])
    metrics.set_kinds("many_kinds", KINDS)
    errors: dict[str, float] = {}
    (question, q_result), (edit, e_result) = _episode(), _edit_episode(wrong_pixels=3)
    losses, logged = _validate(metrics, (question, q_result, 1.0), (edit, e_result, 2.0), errors_out=errors)
    assert set(losses) == {"many_kinds", "edit"} and set(errors) == {"many_kinds", "edit"}
    assert errors["many_kinds"] == pytest.approx(1 - sum(k % 5 for k in range(10)) / 40)  # 1 - 20/40
    assert errors["many_kinds"] == pytest.approx(1 - logged["val/many_kinds/exact_acc"])
    assert errors["edit"] == pytest.approx(3 / 8) and logged["val/edit/edit_ratio"] == pytest.approx(3 / 8)


def test_a_task_with_no_score_has_no_error():
    metrics = ValidationMetrics(["plain"])
    episode, result = _edit_episode("plain", wrong_pixels=2)
    no_edit = EpisodeStep(**{**episode.steps[0].__dict__, "image": None})  # an image target with no input to edit
    errors: dict[str, float] = {}
    losses, _ = _validate(metrics, (Episode(task="plain", steps=(no_edit,), weights=TermWeights()), result, 0.5),
                          errors_out=errors)
    assert losses == {"plain": pytest.approx(0.5)} and errors == {}


def test_a_validation_starts_from_zero():
    metrics = ValidationMetrics(["many_kinds"])
    episode, result = _episode()
    _validate(metrics, (episode, result, 1.0))
    assert _validate(metrics) == ({}, {})
    losses, logged = _validate(metrics, (episode, result, 5.0))
    assert losses == {"many_kinds": pytest.approx(5.0)} and logged["val/many_kinds/kind_9/exact_acc"] == 1.0


def test_an_episode_with_other_kinds_than_its_task_is_an_error():
    metrics = ValidationMetrics(["many_kinds"])
    metrics.set_kinds("many_kinds", KINDS)
    episode, result = _episode(kinds=KINDS[::-1])
    with pytest.raises(ValueError, match="task many_kinds: a validation episode asks the question kinds"):
        metrics.update(episode, result, torch.tensor(1.0))
    with pytest.raises(ValueError, match="data.tasks: 'other' is not one of model.tasks"):
        metrics.set_kinds("other", KINDS)
