"""Independent reference answers, one rule per question kind, in one place.

Each rule recomputes the answer of one question kind from a sample's record alone (the scene JSON,
the overlay and the prompt that `python -m penguin.tasks show` writes), in plain Python floats
with the helpers of `game_reference` — never with the engine's geometry — so a bug shared by a
task and its test cannot hide. `tests/test_tasks.py` checks every registered task's answers
against these rules, and fails for a question kind that has none: a new question task adds its
rule here (see `docs/adding_a_task.md`).
"""
from __future__ import annotations

import math
from typing import Callable

from game_reference import R_AGENT, R_GOLD, relative_angle

REFERENCES: dict[str, Callable[[dict], str]] = {}
TOKEN_NAMES = {"<forward>": "forward", "<backward>": "backward", "<clock>": "turn clockwise",
               "<anticlock>": "turn anticlockwise"}
TURN_STEP = math.pi / 30


def reference(*kinds: str) -> Callable:
    """Register `rule(step) -> answer` as the reference of `kinds`."""
    def add(rule: Callable[[dict], str]) -> Callable[[dict], str]:
        for kind in kinds:
            assert kind not in REFERENCES, f"two references for {kind}"
            REFERENCES[kind] = rule
        return rule
    return add


def frame(step: dict) -> dict:
    """The scene of a record in the agent's frame: positions, heading, gold angle and distance."""
    scene = step["scene"]
    (ax, ay), (gx, gy), th = scene["agent"], scene["gold"][0], scene["heading"]
    gold_angle = math.atan2(gy - ay, gx - ax)
    rel = relative_angle(gold_angle, th)
    dist = math.hypot(gx - ax, gy - ay)
    ahead, right = dist * math.cos(rel), dist * math.sin(rel)
    return dict(ax=ax, ay=ay, gx=gx, gy=gy, th=th, gold_angle=gold_angle, dist=dist, right=right,
                facing=ahead > 0 and abs(right) < R_AGENT + R_GOLD)


def turn(target: float, heading: float) -> str:
    """`<clock>` or `<anticlock>` toward `target`; asserts the question was not a near-tie."""
    rel = relative_angle(target, heading)
    assert min(rel, 2 * math.pi - rel) >= TURN_STEP and abs(rel - math.pi) >= TURN_STEP, "a near-tie was asked"
    return "<clock>" if rel < math.pi else "<anticlock>"


@reference("gold_left_right")
def _(step):
    f = frame(step)
    return "left" if f["gx"] < f["ax"] else "right"


@reference("gold_up_down")
def _(step):
    f = frame(step)
    return "up" if f["gy"] < f["ay"] else "down"


@reference("agent_left_right")
def _(step):
    f = frame(step)
    return "left" if f["ax"] < f["gx"] else "right"


@reference("agent_up_down")
def _(step):
    f = frame(step)
    return "up" if f["ay"] < f["gy"] else "down"


@reference("gold_on_your_side")
def _(step):
    f = frame(step)
    turn(f["gold_angle"], f["th"])
    return "right" if f["right"] > 0 else "left"


def eye_direction(step: dict) -> tuple[float, float]:
    """The body→eye unit vector of a record's agent (image directions: y grows down)."""
    th = step["scene"]["heading"]
    return math.cos(th), math.sin(th)


def off_by(angle: float, boundary: float) -> float:
    """Unsigned angle between directions `angle` and `boundary`, ignoring orientation (mod π)."""
    r = relative_angle(angle, boundary) % math.pi
    return min(r, math.pi - r)


@reference("facing_left_right")
def _(step):
    dx, _ = eye_direction(step)
    assert off_by(step["scene"]["heading"], math.pi / 2) >= TURN_STEP, "a near-tie was asked"
    return "left" if dx < 0 else "right"


@reference("facing_up_down")
def _(step):
    _, dy = eye_direction(step)
    assert off_by(step["scene"]["heading"], 0.0) >= TURN_STEP, "a near-tie was asked"
    return "up" if dy < 0 else "down"


@reference("facing_which_way")
def _(step):
    dx, dy = eye_direction(step)
    th = step["scene"]["heading"]
    assert min(off_by(th, math.pi / 4), off_by(th, 3 * math.pi / 4)) >= TURN_STEP, "a near-tie was asked"
    if abs(dx) > abs(dy):
        return "left" if dx < 0 else "right"
    return "up" if dy < 0 else "down"


@reference("facing_gold", "straight_collects")
def _(step):
    return "yes" if frame(step)["facing"] else "no"


@reference("near_gold")
def _(step):
    return "yes" if frame(step)["dist"] < 0.15 else "no"


@reference("facing_line")
def _(step):
    r = relative_angle(step["overlay"]["angle"], step["scene"]["heading"])
    return "yes" if min(r, 2 * math.pi - r) < math.pi / 6 else "no"


@reference("turn_to_gold", "turn_away_from_gold", "turn_to_line", "turn_away_from_line")
def _(step):
    kind = step["question"]
    target = frame(step)["gold_angle"] if kind.endswith("gold") else step["overlay"]["angle"]
    return turn(target + (math.pi if "away" in kind else 0.0), step["scene"]["heading"])


@reference("turn_toward_gold_word")
def _(step):
    f = frame(step)
    return "clockwise" if turn(f["gold_angle"], f["th"]) == "<clock>" else "anticlockwise"


@reference("next_move")
def _(step):
    f = frame(step)
    return "<forward>" if f["facing"] else turn(f["gold_angle"], f["th"])


@reference("action_to_name")
def _(step):
    return TOKEN_NAMES[next(t for t in TOKEN_NAMES if t in step["prompt"])]


@reference("name_to_action")
def _(step):
    # Longest name first: "turn anticlockwise" contains "clockwise".
    name = max((n for n in TOKEN_NAMES.values() if n in step["prompt"]), key=len)
    return {v: k for k, v in TOKEN_NAMES.items()}[name]


@reference("solve_game")
def _(step):
    # greedy_move of the step's own scene (the scene after the moves so far); no near-tie is
    # rejected here: the rule is exact at every angle.
    f = frame(step)
    if f["facing"]:
        return "<forward>"
    return "<clock>" if relative_angle(f["gold_angle"], f["th"]) < math.pi else "<anticlock>"


@reference("compare_which")
def _(step):
    # The rule on the trace lengths the step records (the first scene is not in this step's
    # view); tests/test_frameworks_oracle.py replays both scenes move by move to check the lengths.
    a, b = step["facts"]["first_trace_length"], step["facts"]["second_trace_length"]
    assert a >= 0 and b >= 0 and a != b, "a tie or a stuck trace was asked"
    return "first" if a < b else "second"
