"""The adaptive task sampler: train more of a task when it falls behind.

Training many tasks together, old skills decay while new ones improve. This sampler watches every
task's validation loss or error (on fixed seeds, so the curve measures the model, not the samples)
and, when a task has clearly regressed from its own best, raises its share of the training steps
until it recovers; then the extra share decays back.

**What it watches** (`signal`). `"loss"`: every task's validation loss. `"error"`: every task's
validation error where it has one — 1 − `exact_acc` for a question task, `edit_ratio` for an
image edit (`lit_modules/metrics.py`) — and its loss where it has none. A loss can rise while
the answers stay right (the model grows less sure of answers it still gets right, once other tasks
share its weights); watching the loss then boosts a task that has lost nothing a user measures,
and the new tasks pay for those steps. The error rises only when answers go wrong.

**Averages.** Per task, after every validation: a fast and a slow exponential moving average of the
watched value (each starts at the first value), and `best`, the lowest fast average so far.
Smoothing with the fast average keeps one noisy evaluation from counting as a best or a regression.

**Regression rule.** With reference r = max(best, epsilon) — the absolute floor `epsilon` keeps
tiny values (a loss going 1e-5 → 3e-5, an error going 0.4 % → 1.2 %: one answer in 256) from
counting as large relative regressions:

| fast average at an evaluation                | effect                                                    |
|----------------------------------------------|-----------------------------------------------------------|
| > r·(1 + tolerance), `patience` in a row     | "regressed": boost ← min(boost · boost_factor, max_boost) |
| > r·(1 + severe), once                       | the same at once: a rise that large is not noise          |
| still above, `patience` more in a row        | "boosted": the boost rises again, up to `max_boost`       |
| ≤ r·(1 + recover_tolerance), while regressed | "recovered": the task leaves the regressed state          |
| anything, while not regressed (recovery too) | boost ← 1 + (boost − 1) · decay                           |

**Re-basing** (`rebase_after` = n, default 3): a regressed task that has stalled — n
evaluations in a row without its fast average falling below its lowest since it regressed by
more than `recover_tolerance`, so more training is not bringing it back — takes its current level
as its new `best`, leaves the regressed state ("rebased") and its boost decays. Without it a task whose loss settles
higher than its old best (the mix changed, the task shares capacity with new ones) keeps the
maximal boost for ever.

`recover_tolerance` < `tolerance` is the hysteresis band: a regressed task whose loss sits between
the two thresholds keeps its boost (no decay, no new boost) until it is clearly back. The counter
of evaluations in a row restarts whenever one evaluation is not above the regression threshold, so
noise that crosses the threshold now and then never triggers anything. A task that never regresses
keeps boost exactly 1.

**Shares.** From the state, after every `update` (and nowhere else, so that shares — and hence the
schedule — are piecewise constant and identical on every rank):

1. boosted = normalise(floored_k · boost_k), floored = `weights` normalised (uniform by default)
   and floored as in step 3: the boost multiplies the share the task has without it, so a task
   whose base weight is below the floor (an old task given a small share) doubles its share when
   its boost doubles, instead of staying at the floor until the boost outgrows floor / weight;
2. mixed = (1 − progress_weight − staleness_weight) · boosted
           + progress_weight · progress + staleness_weight · staleness, where
   - progress ∝ max(0, (slow − fast) / max(slow, epsilon)): tasks that are learning right now
     (the fast average is below the slow one) get more. This is the fast-minus-slow moving-average
     learning-progress measure of Kanitscheider et al. 2021, "Multi-task curriculum learning in a
     complex, visual, hard-exploration domain: Minecraft", kept to its improving side (forgetting
     is the regression rule's job) and made relative so tasks with different loss scales compare;
   - staleness ∝ the number of steps since the task was last chosen, counted by `choose` (the
     newest step it was called for minus the newest step that chose the task), so a task the
     schedule happens to starve comes back; mostly useful with `floor` = 0;
   each of the two falls back to `boosted` while it has no signal (no task improving, no choice
   recorded yet);
3. floor: every task gets at least `floor`; the mass the floored tasks need is taken from the
   others in proportion to their shares (water-filling), so shares still sum to 1 and the ratios
   among the unfloored tasks are kept.

**Bad values.** A task missing from `val_losses` keeps its whole state (no decay, no count); a NaN
or infinite loss is ignored for that task only; a name that is not a task is a `ValueError`.

**Determinism and DDP.** `update` runs the same float arithmetic on the same reduced losses on
every rank, so every rank holds the same shares and `choose` draws the same schedule.
`state_dict()` holds every task's averages, best, counter, regressed flag and boost, and the
choice record — not the options, which come from the config — so a resumed run takes exactly the
decisions the uninterrupted run would have taken.
Call `choose` in the training process (the one that calls `update`) so the staleness record sees
the choices; `choose`'s result itself depends only on ``(seed, step, shares)``.

Args:
    tasks: the task names, unique, in a fixed order.
    weights: base ``{task: weight}`` for every task (finite, ≥ 0, not all 0); default uniform.
    tolerance: relative rise of the fast average above best that counts as a regression (0.1).
    recover_tolerance: relative distance to best that counts as recovered; at most `tolerance`
        (default `tolerance` / 2).
    signal: ``"loss"`` or ``"error"`` (default ``"loss"``): what it watches, see above.
    epsilon: absolute scale below which changes are not relative: the reference is
        max(best, epsilon) (default 1e-3 for the loss; 0.03 — three accuracy points — for the error).
    patience: evaluations in a row above the threshold before the boost rises (default 2).
    boost_factor: multiplier of the boost per regression, ≥ 1 (default 2).
    max_boost: bound of the boost, ≥ 1 (default 4).
    decay: fraction of (boost − 1) kept per evaluation while not regressed, in [0, 1] (default 0.5).
    floor: minimum share of every task, in [0, 1/N] (default 0.5/N).
    fast_momentum: momentum of the fast average, in [0, 1) (default 0.5).
    slow_momentum: momentum of the slow average, in [0, 1) (default 0.9).
    progress_weight: mass of the learning-progress term, ≥ 0 (default 0: off).
    staleness_weight: mass of the staleness term, ≥ 0, with progress_weight + staleness_weight
        ≤ 1 (default 0: off).
    rebase_after: evaluations a regressed task may stall before its best is re-based (an integer
        ≥ 1, or None: never; default 3).
    severe: relative rise above best that boosts without waiting for `patience`, ≥ `tolerance`
        (or None: always wait; default 1.0: the fast average at twice the best).

Logs per task: ``share``, ``boost``, ``regressed`` (0/1) and, once seen, ``fast``, ``slow``,
``best`` — as ``"<task>/<what>"``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lit_modules.registered import build_registered
from lit_modules.task_samplers import StaticSampler, TaskSampler, UniformSampler, normalised_weights

SIGNALS = {"loss": 1e-3, "error": 0.03}  # what the adaptive sampler can watch, and its default epsilon

__all__ = ["TaskSampler", "UniformSampler", "StaticSampler", "AdaptiveSampler", "make_sampler", "floor_shares"]


@dataclass
class TaskTrack:
    """What the adaptive sampler remembers about one task."""

    fast: float | None = None  # fast moving average of the validation loss
    slow: float | None = None  # slow moving average
    best: float | None = None  # lowest fast average so far
    above: int = 0  # evaluations in a row above the regression threshold
    regressed: bool = False
    boost: float = 1.0
    last_chosen: int = -1  # newest step `choose` picked this task for (-1: never)
    regressed_low: float | None = None  # lowest fast average since the task regressed
    stalled: int = 0  # evaluations in a row, while regressed, without a new low (by recover_tolerance)


class AdaptiveSampler(TaskSampler, name="adaptive"):
    """Shares that rise for tasks whose validation loss regressed, with hysteresis, bound and floor."""

    def __init__(self, tasks: Sequence[str], weights: Mapping[str, float] | None = None, *,
                 signal: str = "loss", tolerance: float = 0.1, recover_tolerance: float | None = None,
                 epsilon: float | None = None,
                 patience: int = 2, boost_factor: float = 2.0, max_boost: float = 4.0, decay: float = 0.5,
                 floor: float | None = None, fast_momentum: float = 0.5, slow_momentum: float = 0.9,
                 progress_weight: float = 0.0, staleness_weight: float = 0.0,
                 rebase_after: int | None = 3, severe: float | None = 1.0) -> None:
        super().__init__(tasks)
        n = len(self.tasks)
        if signal not in SIGNALS:
            raise ValueError(f"adaptive sampler signal: expected one of {list(SIGNALS)}, got {signal!r}")
        self.signal = signal
        epsilon = SIGNALS[signal] if epsilon is None else epsilon
        numbers = dict(tolerance=tolerance, recover_tolerance=recover_tolerance, epsilon=epsilon, patience=patience,
                       boost_factor=boost_factor, max_boost=max_boost, decay=decay, floor=floor,
                       fast_momentum=fast_momentum, slow_momentum=slow_momentum,
                       progress_weight=progress_weight, staleness_weight=staleness_weight)
        for option, value in numbers.items():
            if value is None and option in ("recover_tolerance", "floor"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"adaptive sampler {option}: expected a finite number, got {value!r}")
        recover_tolerance = tolerance / 2 if recover_tolerance is None else recover_tolerance
        floor = 0.5 / n if floor is None else floor
        ranges = [
            ("tolerance", tolerance, tolerance >= 0, "≥ 0"),
            ("recover_tolerance", recover_tolerance, 0 <= recover_tolerance <= tolerance, "in [0, tolerance]"),
            ("epsilon", epsilon, epsilon >= 0, "≥ 0"),
            ("patience", patience, isinstance(patience, int) and patience >= 1, "an integer ≥ 1"),
            ("boost_factor", boost_factor, boost_factor >= 1, "≥ 1"),
            ("max_boost", max_boost, max_boost >= 1, "≥ 1"),
            ("decay", decay, 0 <= decay <= 1, "in [0, 1]"),
            ("floor", floor, 0 <= floor <= 1 / n, f"in [0, 1/{n}]"),
            ("fast_momentum", fast_momentum, 0 <= fast_momentum < 1, "in [0, 1)"),
            ("slow_momentum", slow_momentum, 0 <= slow_momentum < 1, "in [0, 1)"),
            ("progress_weight", progress_weight, progress_weight >= 0, "≥ 0"),
            ("staleness_weight", staleness_weight, staleness_weight >= 0, "≥ 0"),
        ]
        for option, value, ok, expected in ranges:
            if not ok:
                raise ValueError(f"adaptive sampler {option}: expected {expected}, got {value!r}")
        if rebase_after is not None and (isinstance(rebase_after, bool) or not isinstance(rebase_after, int)
                                         or rebase_after < 1):
            raise ValueError(f"adaptive sampler rebase_after: expected an integer ≥ 1 or null, got {rebase_after!r}")
        self.rebase_after = rebase_after
        if severe is not None and (isinstance(severe, bool) or not isinstance(severe, (int, float))
                                   or not math.isfinite(severe) or severe < tolerance):
            raise ValueError(f"adaptive sampler severe: expected a number ≥ tolerance ({tolerance}) or null, "
                             f"got {severe!r}")
        self.severe = None if severe is None else float(severe)
        if progress_weight + staleness_weight > 1:
            raise ValueError(f"adaptive sampler: progress_weight + staleness_weight must be ≤ 1, "
                             f"got {progress_weight + staleness_weight!r}")
        base = normalised_weights(self.tasks, weights, "weights") if weights is not None else {}
        self.base = [base.get(task, 1.0) for task in self.tasks]
        self.floored_base = floor_shares(_normalise(self.base), float(floor))  # the shares at boost 1
        self.tolerance = float(tolerance)
        self.recover_tolerance = float(recover_tolerance)
        self.epsilon = float(epsilon)
        self.patience = patience
        self.boost_factor = float(boost_factor)
        self.max_boost = float(max_boost)
        self.decay = float(decay)
        self.floor = float(floor)
        self.fast_momentum = float(fast_momentum)
        self.slow_momentum = float(slow_momentum)
        self.progress_weight = float(progress_weight)
        self.staleness_weight = float(staleness_weight)
        self.tracks = {task: TaskTrack() for task in self.tasks}
        self.last_step = -1  # newest step `choose` was called for
        self._shares = self._compute_shares()

    def shares(self) -> dict[str, float]:
        return dict(zip(self.tasks, self._shares))

    def choose(self, step: int, seed: int) -> str:
        task = super().choose(step, seed)
        # Newest-step bookkeeping (max, not a count) is idempotent: asking twice for one step is harmless.
        self.last_step = max(self.last_step, step)
        self.tracks[task].last_chosen = max(self.tracks[task].last_chosen, step)
        return task

    def update(self, val_losses: Mapping[str, float]) -> dict[str, str]:
        self.check_names(val_losses)
        events = {}
        for task in self.tasks:
            if task not in val_losses:
                continue
            loss = float(val_losses[task])
            if not math.isfinite(loss):
                continue
            event = self._observe(self.tracks[task], loss)
            if event is not None:
                events[task] = event
        self._shares = self._compute_shares()
        return events

    def _observe(self, track: TaskTrack, loss: float) -> str | None:
        """Fold one validation loss into `track`; the event it caused, if any."""
        track.fast = loss if track.fast is None else self.fast_momentum * track.fast + (1 - self.fast_momentum) * loss
        track.slow = loss if track.slow is None else self.slow_momentum * track.slow + (1 - self.slow_momentum) * loss
        track.best = track.fast if track.best is None else min(track.best, track.fast)
        if track.regressed and self.rebase_after is not None:
            if track.regressed_low is None or track.fast < track.regressed_low * (1 - self.recover_tolerance):
                track.regressed_low, track.stalled = track.fast, 0
            else:
                track.stalled += 1
            if track.stalled >= self.rebase_after:
                track.best, track.regressed, track.above = track.fast, False, 0
                track.regressed_low, track.stalled = None, 0
                track.boost = 1 + (track.boost - 1) * self.decay
                return "rebased"
        reference = max(track.best, self.epsilon)
        if track.fast > reference * (1 + self.tolerance):
            track.above += 1
            severe = self.severe is not None and track.fast > reference * (1 + self.severe)
            if track.above < self.patience and not severe:
                return None
            track.above = 0
            was_regressed, old_boost = track.regressed, track.boost
            track.regressed = True
            track.boost = min(track.boost * self.boost_factor, self.max_boost)
            if not was_regressed:
                return "regressed"
            return "boosted" if track.boost > old_boost else None
        track.above = 0
        if track.regressed:
            if track.fast > reference * (1 + self.recover_tolerance):
                return None  # inside the hysteresis band: hold the boost
            track.regressed, track.regressed_low, track.stalled = False, None, 0
            track.boost = 1 + (track.boost - 1) * self.decay
            return "recovered"
        track.boost = 1 + (track.boost - 1) * self.decay
        return None

    def _compute_shares(self) -> list[float]:
        tracks = [self.tracks[task] for task in self.tasks]
        boosted = _normalise([b * t.boost for b, t in zip(self.floored_base, tracks)])
        mixed = [(1 - self.progress_weight - self.staleness_weight) * p for p in boosted]
        if self.progress_weight > 0:
            progress = [max(0.0, (t.slow - t.fast) / max(t.slow, self.epsilon)) if t.fast is not None else 0.0
                        for t in tracks]
            mixed = _mix(mixed, self.progress_weight, progress, boosted)
        if self.staleness_weight > 0:
            staleness = [float(self.last_step - t.last_chosen) for t in tracks]
            mixed = _mix(mixed, self.staleness_weight, staleness, boosted)
        return floor_shares(mixed, self.floor)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "last_step": self.last_step,
                "tracks": {task: asdict(track) for task, track in self.tracks.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.last_step = int(state["last_step"])
        self.tracks = {task: TaskTrack(**state["tracks"][task]) for task in self.tasks}
        self._shares = self._compute_shares()

    def logs(self) -> dict[str, float]:
        out = super().logs()
        for task, track in self.tracks.items():
            out[f"{task}/boost"] = track.boost
            out[f"{task}/regressed"] = float(track.regressed)
            for what in ("fast", "slow", "best"):
                value = getattr(track, what)
                if value is not None:
                    out[f"{task}/{what}"] = value
        return out


def _normalise(values: list[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values]


def _mix(mixed: list[float], weight: float, signal: list[float], fallback: list[float]) -> list[float]:
    """`mixed` + `weight` · normalise(`signal`), or + `weight` · `fallback` when the signal is all 0."""
    term = _normalise(signal) if sum(signal) > 0 else fallback
    return [m + weight * t for m, t in zip(mixed, term)]


def floor_shares(shares: Sequence[float], floor: float) -> list[float]:
    """`shares` (summing to 1) with every entry at least `floor` (≤ 1/N), still summing to 1.

    Water-filling: entries that would fall below the floor are set to it, and the rest share what
    is left in proportion to their original values; repeated until no entry is below. The largest
    entry never needs the floor, so the remaining mass is always positive.
    """
    fixed = [False] * len(shares)
    while True:
        free_mass = 1.0 - floor * sum(fixed)
        free_total = sum(s for s, f in zip(shares, fixed) if not f)
        out = [floor if f else free_mass * s / free_total for s, f in zip(shares, fixed)]
        low = [i for i, (s, f) in enumerate(zip(out, fixed)) if not f and s < floor]
        if not low:
            return out
        for i in low:
            fixed[i] = True


def make_sampler(name: str, tasks: Sequence[str], **options) -> TaskSampler:
    """Build the sampler registered as `name` ("uniform", "static", "round_robin", "adaptive") over `tasks`.

    Unknown names, unknown options and missing required options are one-line `ValueError`s.
    """
    return build_registered("task sampler", TaskSampler.registry, name, tasks, **options)
