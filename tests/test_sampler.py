"""Task samplers on synthetic validation-loss streams: the regression rule, shares, determinism, state."""
import io
import math
import random

import pytest
import torch

from assertions import one_line_error
from lit_modules.sampler import AdaptiveSampler, TaskSampler, floor_shares, make_sampler

TASKS = ["arrow", "side_qa", "near_gold_qa", "balance", "recall"]



def feed(sampler, task, losses, others=1.0):
    """One update per loss for `task` (the other tasks steady at `others`); the events of each."""
    return [sampler.update({**{t: others for t in sampler.tasks if t != task}, task: loss}) for loss in losses]


# --- the regression rule ------------------------------------------------------------------------------


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_regression_boosts_after_exactly_patience_evaluations(patience):
    sampler = AdaptiveSampler(TASKS, patience=patience, fast_momentum=0.0)
    feed(sampler, "arrow", [1.0, 1.0])
    for _ in range(patience - 1):
        assert feed(sampler, "arrow", [2.0]) == [{}]
        assert sampler.tracks["arrow"].boost == 1.0
    assert feed(sampler, "arrow", [2.0]) == [{"arrow": "regressed"}]
    assert sampler.tracks["arrow"].boost == 2.0
    shares = sampler.shares()
    assert shares["arrow"] == pytest.approx(2 / 6)
    assert shares["side_qa"] == pytest.approx(1 / 6)


def test_default_smoothing_regresses_on_the_second_bad_evaluation():
    sampler = make_sampler("adaptive", TASKS)  # fast momentum 0.5: 1 → 1.5 → 1.75, both above 1.1
    assert feed(sampler, "arrow", [1.0, 1.0, 2.0, 2.0]) == [{}, {}, {}, {"arrow": "regressed"}]


def test_recovery_decays_back_to_parity():
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0)
    feed(sampler, "arrow", [1.0, 2.0, 2.0, 2.0, 2.0])
    assert sampler.tracks["arrow"].boost == 4.0
    assert feed(sampler, "arrow", [1.02]) == [{"arrow": "recovered"}]
    assert sampler.tracks["arrow"].boost == 2.5  # 1 + (4 − 1) · 0.5
    boosts = []
    for _ in range(15):
        feed(sampler, "arrow", [1.0])
        boosts.append(sampler.tracks["arrow"].boost)
    assert boosts == sorted(boosts, reverse=True)
    assert all(share == pytest.approx(0.2, abs=1e-3) for share in sampler.shares().values())


def test_hysteresis_band_holds_the_boost():
    # regress above 1.1, recover at or below 1.05; no severe shortcut, no re-basing: the band alone
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0, severe=None, rebase_after=None)
    feed(sampler, "arrow", [1.0, 2.0, 2.0])
    assert sampler.tracks["arrow"].boost == 2.0
    assert feed(sampler, "arrow", [1.08, 1.07, 1.09]) == [{}, {}, {}]
    assert sampler.tracks["arrow"].boost == 2.0 and sampler.tracks["arrow"].regressed
    assert feed(sampler, "arrow", [1.05]) == [{"arrow": "recovered"}]


def test_noise_inside_the_tolerance_changes_nothing():
    sampler = make_sampler("adaptive", TASKS)
    initial = sampler.shares()
    rng = random.Random(0)
    for _ in range(200):
        assert sampler.update({task: 1.0 + 0.09 * rng.random() for task in TASKS}) == {}
    assert sampler.shares() == initial
    assert all(track.boost == 1.0 and not track.regressed for track in sampler.tracks.values())


def test_isolated_threshold_crossings_do_not_trigger():
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0)
    assert feed(sampler, "arrow", [1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0]) == [{}] * 7
    assert sampler.shares()["arrow"] == 0.2


def test_epsilon_keeps_tiny_losses_from_regressing():
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0, severe=None, rebase_after=None)
    assert feed(sampler, "arrow", [1e-5, 5e-5, 5e-5, 5e-5]) == [{}] * 4
    assert feed(sampler, "arrow", [5e-3, 5e-3]) == [{}, {"arrow": "regressed"}]


def test_max_boost_bounds_the_boost():
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0, max_boost=3.0, severe=None, rebase_after=None)
    events = feed(sampler, "arrow", [1.0] + [5.0] * 12)
    assert [e for e in events if e] == [{"arrow": "regressed"}, {"arrow": "boosted"}]
    assert sampler.tracks["arrow"].boost == 3.0
    assert sampler.shares()["arrow"] == pytest.approx(3 / 7)


def test_floor_is_exact():
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0, max_boost=100.0, boost_factor=100.0)
    feed(sampler, "arrow", [1.0, 3.0, 3.0])
    shares = sampler.shares()
    assert sampler.tracks["arrow"].boost == 100.0
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(shares[t] == pytest.approx(0.1, abs=1e-12) for t in TASKS[1:])  # default floor 0.5 / 5
    assert shares["arrow"] == pytest.approx(0.6)


def test_boost_multiplies_a_floored_share():
    """A task whose base weight is below the floor (an old task given a small share) still gets
    boost × the share it has unboosted: the boost acts on the floored share, not on the raw weight."""
    weights = {"arrow": 0.01, **{t: 1.0 for t in TASKS[1:]}}
    sampler = AdaptiveSampler(TASKS, weights=weights, fast_momentum=0.0, severe=None, rebase_after=None)
    assert sampler.shares()["arrow"] == pytest.approx(0.1)  # the floor, 0.5 / 5
    feed(sampler, "arrow", [1.0, 3.0, 3.0])
    assert sampler.tracks["arrow"].boost == 2.0
    # floored shares 0.1 (arrow) and 0.225 (each other); arrow doubled, then all renormalised
    assert sampler.shares()["arrow"] == pytest.approx(0.2 / 1.1)
    assert sampler.shares()["side_qa"] == pytest.approx(0.225 / 1.1)


def test_floor_shares_water_filling():
    rng = random.Random(1)
    for _ in range(200):
        n = rng.randint(1, 8)
        raw = [rng.random() ** 4 for _ in range(n)]
        shares = [r / sum(raw) for r in raw]
        floor = rng.uniform(0, 1 / n)
        out = floor_shares(shares, floor)
        assert sum(out) == pytest.approx(1.0, abs=1e-12)
        assert min(out) >= floor - 1e-12
        free = [i for i in range(n) if out[i] > floor + 1e-12]
        for i in free:  # ratios among the unfloored entries are kept
            assert out[i] / out[free[0]] == pytest.approx(shares[i] / shares[free[0]])


def test_missing_and_non_finite_losses_keep_the_state():
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0)
    feed(sampler, "arrow", [1.0, 2.0])
    state = sampler.state_dict()
    assert sampler.update({"side_qa": 1.0, "balance": 1.0, "near_gold_qa": 1.0, "recall": 1.0}) == {}
    assert sampler.update({"arrow": math.nan}) == {}
    assert sampler.update({"arrow": math.inf}) == {}
    assert sampler.state_dict()["tracks"]["arrow"] == state["tracks"]["arrow"]
    assert feed(sampler, "arrow", [2.0]) == [{"arrow": "regressed"}]  # the count survived the gaps


def test_unknown_task_in_losses_is_an_error():
    for name in ("uniform", "adaptive"):
        one_line_error(lambda: make_sampler(name, TASKS).update({"arow": 1.0}), "arow")


def test_progress_term_favours_the_improving_task():
    sampler = AdaptiveSampler(TASKS, progress_weight=0.5)
    for value in (2.0, 1.5, 1.0, 0.7):
        sampler.update({"arrow": value, **{t: 1.0 for t in TASKS[1:]}})
    shares = sampler.shares()
    assert shares["arrow"] > 0.5
    assert sum(shares.values()) == pytest.approx(1.0)
    assert len({shares[t] for t in TASKS[1:]}) == 1


def test_staleness_term_favours_the_task_not_chosen():
    sampler = AdaptiveSampler(["a", "b"], weights={"a": 1.0, "b": 0.0}, floor=0.0, staleness_weight=0.5)
    assert sampler.shares() == {"a": 1.0, "b": 0.0}
    assert {sampler.choose(step, seed=0) for step in range(100)} == {"a"}
    sampler.update({})
    assert sampler.shares() == pytest.approx({"a": 0.5, "b": 0.5})


# --- determinism and state ----------------------------------------------------------------------------


def test_state_round_trip_gives_identical_future_decisions():
    options = dict(progress_weight=0.2, staleness_weight=0.1)
    a = make_sampler("adaptive", TASKS, **options)
    rng = random.Random(2)
    step = 0

    def run(sampler, losses, start):
        chosen = [sampler.choose(s, seed=7) for s in range(start, start + 50)]
        return chosen, sampler.update(losses), sampler.shares()

    def losses(i):
        return {t: 1.0 + (0.5 if t == "arrow" and 3 <= i < 7 else 0.0) + 0.02 * rng.random() for t in TASKS}

    for i in range(10):
        run(a, losses(i), step)
        step += 50
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = make_sampler("adaptive", TASKS, **options)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    assert b.shares() == a.shares()
    for i in range(10, 20):
        batch = losses(i)
        assert run(a, batch, step) == run(b, batch, step)
        step += 50
    assert a.logs() == b.logs()


def test_load_state_dict_refuses_another_sampler_or_task_list():
    state = make_sampler("adaptive", TASKS).state_dict()
    one_line_error(lambda: make_sampler("adaptive", TASKS[:3]).load_state_dict(state), "task list")
    one_line_error(lambda: make_sampler("uniform", TASKS).load_state_dict(state), "'adaptive'", "'uniform'")


def test_choose_is_deterministic_per_seed_and_step():
    a, b = make_sampler("uniform", TASKS), make_sampler("uniform", TASKS)
    first = [a.choose(step, seed=3) for step in range(200)]
    assert first == [b.choose(step, seed=3) for step in reversed(range(200))][::-1]  # order of calls irrelevant
    assert first != [a.choose(step, seed=4) for step in range(200)]


@pytest.mark.parametrize("name", ["uniform", "static", "adaptive"])
def test_choose_follows_the_shares(name):
    options = {"weights": dict(zip(TASKS, [1, 2, 3, 4, 10]))} if name == "static" else {}
    sampler = make_sampler(name, TASKS, **options)
    if name == "adaptive":
        feed(sampler, "near_gold_qa", [1.0, 2.0, 2.0, 2.0, 2.0])  # boosted to 4
    shares = sampler.shares()
    counts = dict.fromkeys(TASKS, 0)
    for step in range(5000):
        counts[sampler.choose(step, seed=11)] += 1
    for task in TASKS:
        assert counts[task] / 5000 == pytest.approx(shares[task], abs=0.02)


# --- baselines and the factory ------------------------------------------------------------------------


def test_baselines():
    assert make_sampler("uniform", TASKS).shares() == dict.fromkeys(TASKS, 0.2)
    static = make_sampler("static", TASKS, weights=dict(zip(TASKS, [2, 2, 4, 0, 0])))
    assert static.shares() == {"arrow": 0.25, "side_qa": 0.25, "near_gold_qa": 0.5, "balance": 0.0, "recall": 0.0}
    assert static.update({"arrow": 9.0}) == {}
    assert static.shares()["arrow"] == 0.25
    assert static.logs()["near_gold_qa/share"] == 0.5
    static.load_state_dict(static.state_dict())


def test_factory_and_option_errors_are_one_line():
    weights = dict(zip(TASKS, [1.0] * 5))
    one_line_error(lambda: make_sampler("curriculum", TASKS), "curriculum", "adaptive, round_robin, static, uniform")
    one_line_error(lambda: make_sampler("static", TASKS), "weights")
    one_line_error(lambda: make_sampler("static", TASKS, weights={**weights, "arow": 1.0}), "arow")
    one_line_error(lambda: make_sampler("static", TASKS, weights={"arrow": 1.0}), "missing", "side_qa")
    one_line_error(lambda: make_sampler("static", TASKS, weights={**weights, "arrow": -1.0}), "arrow")
    one_line_error(lambda: make_sampler("adaptive", TASKS, patiense=3), "patiense", "patience")
    one_line_error(lambda: make_sampler("adaptive", TASKS, floor=0.3), "floor")
    one_line_error(lambda: make_sampler("adaptive", TASKS, tolerance="0.1"), "tolerance")
    one_line_error(lambda: make_sampler("adaptive", TASKS, patience=1.5), "patience")
    one_line_error(lambda: make_sampler("adaptive", TASKS, recover_tolerance=0.2), "recover_tolerance")
    one_line_error(lambda: make_sampler("adaptive", TASKS, signal="accuracy"), "signal", "'loss', 'error'")
    one_line_error(lambda: make_sampler("adaptive", TASKS, progress_weight=0.6, staleness_weight=0.6), "≤ 1")
    one_line_error(lambda: make_sampler("uniform", ["a", "a"]), "'a'")
    one_line_error(lambda: make_sampler("uniform", []), "at least one task")
    assert set(TaskSampler.registry) == {"uniform", "static", "adaptive", "round_robin"}


def test_round_robin_trains_every_task_in_turn():
    sampler = make_sampler("round_robin", ["a", "b", "c"])
    assert [sampler.choose(s, seed=7) for s in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]
    assert sampler.shares() == {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    assert sampler.update({"a": 1.0}) == {}


def test_a_task_that_settles_higher_stays_boosted_unless_rebased():
    # The loss jumps from 1.0 to 1.5 and stays there: the task regressed, then settled.
    stream = [1.0, 1.5, 1.5] + [1.5] * 12
    plain = AdaptiveSampler(TASKS, fast_momentum=0.0, rebase_after=None)
    feed(plain, "arrow", stream)
    assert plain.tracks["arrow"].regressed and plain.tracks["arrow"].boost == 4.0  # for ever
    rebased = AdaptiveSampler(TASKS, fast_momentum=0.0, rebase_after=4)
    events = feed(rebased, "arrow", stream)
    assert [e for e in events if e] == [{"arrow": "regressed"}, {"arrow": "boosted"}, {"arrow": "rebased"}]
    track = rebased.tracks["arrow"]
    assert not track.regressed and track.best == 1.5 and track.boost < 2.0
    feed(rebased, "arrow", [1.5] * 10)  # settled at the new level: the boost decays to parity
    assert rebased.tracks["arrow"].boost == pytest.approx(1.0, abs=0.01)
    assert feed(rebased, "arrow", [2.0, 2.0]) == [{}, {"arrow": "regressed"}]  # and a new regression counts


def test_a_regressed_task_still_improving_is_not_rebased():
    # Coming back slowly (the slow average stays well above the fast one): keep the boost.
    sampler = AdaptiveSampler(TASKS, fast_momentum=0.0, rebase_after=2)
    events = feed(sampler, "arrow", [1.0, 3.0, 3.0, 2.6, 2.2, 1.9, 1.6, 1.4, 1.25])
    assert all(e.get("arrow") != "rebased" for e in events)
    assert sampler.tracks["arrow"].regressed
    with pytest.raises(ValueError, match="rebase_after: expected an integer ≥ 1 or null"):
        AdaptiveSampler(TASKS, rebase_after=0)


def test_a_severe_rise_boosts_at_once_and_a_small_one_waits_for_patience():
    # 1.0 → 3.0 is no noise: with `severe` 1.0 the first evaluation boosts; without, the second.
    plain = AdaptiveSampler(TASKS, fast_momentum=0.0, severe=None)
    assert feed(plain, "arrow", [1.0, 3.0, 3.0]) == [{}, {}, {"arrow": "regressed"}]
    assert AdaptiveSampler(TASKS).severe == 1.0 and AdaptiveSampler(TASKS).rebase_after == 3  # the defaults
    severe = AdaptiveSampler(TASKS, fast_momentum=0.0, severe=1.0)
    assert feed(severe, "arrow", [1.0, 3.0]) == [{}, {"arrow": "regressed"}]
    assert severe.tracks["arrow"].boost == 2.0 and severe.shares()["arrow"] > severe.shares()["side_qa"]
    assert feed(severe, "arrow", [3.0]) == [{"arrow": "boosted"}]  # still severe: up again, not waiting
    # A rise above tolerance but below `severe` still needs `patience` evaluations in a row.
    mild = AdaptiveSampler(TASKS, fast_momentum=0.0, severe=1.0)
    assert feed(mild, "arrow", [1.0, 1.5, 1.5]) == [{}, {}, {"arrow": "regressed"}]
    with pytest.raises(ValueError, match="severe: expected a number ≥ tolerance"):
        AdaptiveSampler(TASKS, tolerance=0.2, severe=0.1)


# --- what it watches ----------------------------------------------------------------------------------


def test_the_error_signal_does_not_boost_a_task_whose_loss_rises_while_its_answers_stay_right():
    # side_qa grows less sure of answers it still gets right: the loss doubles, the error stays at 1 %.
    losses = [0.05, 0.05, 0.10, 0.10, 0.10, 0.10]
    errors = [0.01] * len(losses)
    by_loss = AdaptiveSampler(TASKS, signal="loss")
    by_error = AdaptiveSampler(TASKS, signal="error")
    for loss, error in zip(losses, errors):
        steady = {t: 1.0 for t in TASKS if t != "side_qa"}
        for sampler in (by_loss, by_error):
            sampler.update(sampler.watched({**steady, "side_qa": loss}, {"side_qa": error}))
    assert by_loss.tracks["side_qa"].regressed and by_loss.tracks["side_qa"].boost > 1
    assert not by_error.tracks["side_qa"].regressed and by_error.tracks["side_qa"].boost == 1.0
    assert by_error.tracks["side_qa"].fast == pytest.approx(0.01)
    # When the answers do go wrong, the error sampler boosts.
    for error in (0.08, 0.08):
        by_error.update(by_error.watched({**steady, "side_qa": 0.1}, {"side_qa": error}))
    assert by_error.tracks["side_qa"].regressed and by_error.tracks["side_qa"].boost == 2.0


def test_the_error_signal_falls_back_to_the_loss_and_floors_at_three_points():
    sampler = AdaptiveSampler(TASKS, signal="error", fast_momentum=0.0, severe=None)
    assert sampler.epsilon == 0.03 and AdaptiveSampler(TASKS).epsilon == 1e-3  # the defaults per signal
    losses = {t: 2.0 for t in TASKS}
    assert sampler.watched(losses, {"arrow": 0.25, "side_qa": 0.01}) == {**losses, "arrow": 0.25, "side_qa": 0.01}
    assert make_sampler("adaptive", TASKS).watched(losses, {"arrow": 0.25}) == losses
    assert make_sampler("uniform", TASKS).watched(losses, {"arrow": 0.25}) == losses
    # 1 % → 3 % wrong answers is within three points: no regression; 1 % → 4 % is.
    feed(sampler, "side_qa", [0.01, 0.03, 0.03, 0.03])
    assert not sampler.tracks["side_qa"].regressed
    feed(sampler, "side_qa", [0.04, 0.04])
    assert sampler.tracks["side_qa"].regressed
