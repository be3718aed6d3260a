"""Loss weightings on toy problems: values and gradients by hand, learning dynamics, state, errors."""
import math

import pytest
import torch

from assertions import one_line_error
from lit_modules.weighting import (LossRatioWeighting, StaticWeighting, UncertaintyWeighting, Weighting,
                                   make_weighting)

KEYS = ["arrow/image", "arrow/lm", "side_qa/answer"]


def leaves(**values):
    return {key.replace("__", "/"): torch.tensor(v, requires_grad=True) for key, v in values.items()}



# --- static -----------------------------------------------------------------------------------------


def test_static_value_and_gradient_are_the_scales():
    w = StaticWeighting(KEYS, task_scales={"arrow": 2.0})
    losses = leaves(arrow__image=0.5, side_qa__answer=3.0)
    objective = w(losses)
    objective.backward()
    assert objective.item() == pytest.approx(2.0 * 0.5 + 3.0)
    assert losses["arrow/image"].grad.item() == 2.0
    assert losses["side_qa/answer"].grad.item() == 1.0
    assert w.logs() == {"arrow/image/weight": 2.0, "side_qa/answer/weight": 1.0}  # keys seen so far
    assert dict(w.state_dict()) == {}


def test_static_rejects_bad_task_scales():
    one_line_error(lambda: StaticWeighting(KEYS, task_scales={"arow": 2.0}), "arow")
    one_line_error(lambda: StaticWeighting(KEYS, task_scales={"arrow": -1.0}), "arrow")
    one_line_error(lambda: StaticWeighting(KEYS, task_scales={"arrow": math.nan}), "arrow")


# --- uncertainty ------------------------------------------------------------------------------------


def test_uncertainty_value_and_gradient_by_hand():
    w = UncertaintyWeighting(KEYS)
    assert all(p.item() == 0.0 for p in w.parameters())
    with torch.no_grad():
        w.log_vars["arrow__image"].fill_(0.3)
        w.log_vars["arrow__lm"].fill_(-0.7)
    losses = leaves(arrow__image=2.0, arrow__lm=0.5)
    objective = w(losses)
    objective.backward()
    expected = math.exp(-0.3) * 2.0 + 0.3 + math.exp(0.7) * 0.5 - 0.7
    assert objective.item() == pytest.approx(expected, rel=1e-6)
    for key, s, loss in (("arrow__image", 0.3, 2.0), ("arrow__lm", -0.7, 0.5)):
        assert w.log_vars[key].grad.item() == pytest.approx(-math.exp(-s) * loss + 1.0, rel=1e-6)
    assert losses["arrow/image"].grad.item() == pytest.approx(math.exp(-0.3), rel=1e-6)
    assert w.log_vars["side_qa__answer"].grad is None  # absent key: no gradient this step
    assert w.logs()["arrow/lm/weight"] == pytest.approx(math.exp(0.7), rel=1e-6)


def test_uncertainty_converges_to_log_of_the_loss():
    w = UncertaintyWeighting(KEYS)
    optimizer = torch.optim.SGD(w.parameters(), lr=0.1)
    fixed = {"arrow/image": torch.tensor(4.0), "side_qa/answer": torch.tensor(0.25)}
    for _ in range(400):
        optimizer.zero_grad()
        w(fixed).backward()
        optimizer.step()
    assert w.log_vars["arrow__image"].item() == pytest.approx(math.log(4.0), abs=1e-3)
    assert w.log_vars["side_qa__answer"].item() == pytest.approx(math.log(0.25), abs=1e-3)
    assert w.log_vars["arrow__lm"].item() == 0.0  # never present, never moved


def test_uncertainty_bounds_project_the_parameter():
    w = UncertaintyWeighting(KEYS, bounds=(-1.0, 1.0))
    with torch.no_grad():
        w.log_vars["arrow__image"].fill_(-5.0)
    losses = leaves(arrow__image=0.01)
    w(losses).backward()
    assert w.log_vars["arrow__image"].item() == -1.0
    # Projected, not clamped in the graph: the gradient still says where the optimum is.
    assert w.log_vars["arrow__image"].grad.item() == pytest.approx(-math.exp(1.0) * 0.01 + 1.0, rel=1e-6)
    one_line_error(lambda: UncertaintyWeighting(KEYS, init=2.0, bounds=(-1.0, 1.0)), "bounds")


# --- loss ratio -------------------------------------------------------------------------------------


def test_loss_ratio_first_step_gradient_and_running_mean():
    w = LossRatioWeighting(KEYS, momentum=0.9)
    losses = leaves(arrow__image=0.004, arrow__lm=2.5)
    objective = w(losses)
    objective.backward()
    assert objective.item() == pytest.approx(2.0)  # every term starts at ratio 1
    assert losses["arrow/image"].grad.item() == pytest.approx(1 / 0.004, rel=1e-6)
    assert w.running_mean.arrow__image.item() == pytest.approx(0.004)
    assert math.isnan(w.running_mean.side_qa__answer.item())

    before = w.running_mean.arrow__lm.item()
    losses = leaves(arrow__lm=3.0)
    w(losses).backward()
    assert losses["arrow/lm"].grad.item() == pytest.approx(1 / before, rel=1e-6)  # 1/m before the update
    assert w.running_mean.arrow__lm.item() == pytest.approx(0.9 * 2.5 + 0.1 * 3.0, rel=1e-6)
    assert w.logs() == pytest.approx({"arrow/image/weight": 250.0, "arrow/lm/weight": 1 / 2.55})


def test_loss_ratio_is_the_number_of_terms_at_steady_state():
    w = LossRatioWeighting(KEYS, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        noise = 1 + 0.05 * (torch.rand(3, generator=generator) - 0.5)
        objective = w({"arrow/image": 0.003 * noise[0], "arrow/lm": 2.0 * noise[1], "side_qa/answer": 40 * noise[2]})
    assert objective.item() == pytest.approx(3.0, abs=0.1)


def test_loss_ratio_eval_mode_and_non_finite_leave_the_mean_alone():
    w = LossRatioWeighting(KEYS)
    w({"arrow/image": torch.tensor(1.0)})
    w.eval()
    assert w({"arrow/image": torch.tensor(5.0)}).item() == pytest.approx(5.0)
    assert w({"arrow/lm": torch.tensor(7.0)}).item() == pytest.approx(1.0)  # unseen: ratio 1, not stored
    assert w.running_mean.arrow__image.item() == 1.0
    assert math.isnan(w.running_mean.arrow__lm.item())
    w.train()
    assert w({"arrow/image": torch.tensor(math.inf)}).item() == math.inf  # the trainer skips this step
    assert w.running_mean.arrow__image.item() == 1.0


# --- shared contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["static", "uncertainty", "loss_ratio"])
def test_state_dict_round_trip(name):
    a = make_weighting(name, KEYS)
    optimizer = torch.optim.SGD(a.parameters(), lr=0.1) if list(a.parameters()) else None
    for step in range(5):
        objective = a({"arrow/image": torch.tensor(1.0 + step), "side_qa/answer": torch.tensor(0.5)})
        if optimizer:
            optimizer.zero_grad()
            objective.backward()
            optimizer.step()
    state = a.state_dict()
    assert all(tensor.shape == () for tensor in state.values())  # nothing batch-shaped
    assert all("/" not in name for name in state)
    b = make_weighting(name, KEYS)
    b.load_state_dict(state)
    probe = {"arrow/image": torch.tensor(2.0), "arrow/lm": torch.tensor(0.3), "side_qa/answer": torch.tensor(0.7)}
    assert b(probe).item() == a(probe).item()
    assert b.logs() == a.logs()


def test_errors_are_one_line_and_name_the_problem():
    w = make_weighting("static", KEYS)
    one_line_error(lambda: w({"arrow/answer": torch.tensor(1.0)}), "'arrow/answer'")
    one_line_error(lambda: w({}), "no loss terms")
    one_line_error(lambda: w({"arrow/lm": torch.ones(2)}), "arrow/lm", "scalar")
    one_line_error(lambda: make_weighting("gradnorm", KEYS), "gradnorm", "loss_ratio, static, uncertainty")
    one_line_error(lambda: make_weighting("loss_ratio", KEYS, momentun=0.9), "momentun", "momentum")
    one_line_error(lambda: make_weighting("static", ["arrow"]), "'arrow'")
    one_line_error(lambda: make_weighting("static", ["arrow/lm.x"]), "arrow/lm.x")
    one_line_error(lambda: make_weighting("static", ["a/b", "a/b"]), "a/b")
    one_line_error(lambda: make_weighting("loss_ratio", KEYS, momentum=1.0), "momentum")
    assert set(Weighting.registry) == {"static", "uncertainty", "loss_ratio"}
