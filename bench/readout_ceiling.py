"""How much of each question's answer the rendered image holds: answer it from a hand-written read-out.

    python bench/readout_ceiling.py                       # 4,096 bare scenes at 64 px
    python bench/readout_ceiling.py --sizes 64 128 --scenes 8192 --json

A learner that answers a question from the image can do no better than what the pixels hold. This
script renders bare scenes (`penguin.game.sampling.sample_bare`), reads agent, heading and gold back
out of the pixels with `penguin.game.readout.read_out` (colour masks and centroids, no learning),
and answers every geometry predicate the question tasks use on the read-out scene and on the true
one. Their agreement is a floor on what the image holds: a predicate the read-out answers at 0.99
is in the pixels at that size, so a learner stuck well below that is limited by what it computes,
not by what it sees.

| predicate | asked by |
|-----------|----------|
| `gold_left`, `gold_up`, `agent_left`, `agent_up` | `side_qa` |
| `near` | `near_gold_qa` |
| `facing_gold` | `facing_gold_qa`, `next_move_qa` |
| `gold_on_agents_left` | `egocentric_side_qa` |
| `turn_clockwise_to_gold` | `turn_qa`, `next_move_qa` |
| `greedy_move` | `next_move_qa`, `full_move` |

Heading-relative predicates are scored on the scenes their tasks keep: the gold within one turn
step of straight ahead or behind is a tie the tasks redraw (`geometry.turn_is_ambiguous`), so it
is left out here too. Also printed: the read-out heading's error in degrees (mean and 95th
percentile). Not a timed test; record what it prints in `bench/RESULTS.md`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from penguin.game import geometry  # noqa: E402
from penguin.game.readout import read_out  # noqa: E402
from penguin.game.render import render  # noqa: E402
from penguin.game.sampling import sample_bare  # noqa: E402

PREDICATES = {
    "gold_left": (geometry.gold_left, False),  # (function of a scene, scored only off ties)
    "gold_up": (geometry.gold_up, False),
    "agent_left": (geometry.agent_left, False),
    "agent_up": (geometry.agent_up, False),
    "near": (geometry.near, False),
    "facing_gold": (geometry.facing_gold, False),
    "gold_on_agents_left": (geometry.gold_on_agents_left, True),
    "turn_clockwise_to_gold": (lambda s: geometry.turn_clockwise_toward(s.heading, geometry.gold_direction(s)), True),
    "greedy_move": (geometry.greedy_move, True),
}


def ceiling(size: int, scenes: int, seed: int = 0, batch: int = 512) -> dict[str, float]:
    """Per predicate, the fraction of `scenes` bare scenes whose read-out at `size` px gives the true
    answer; plus the heading error in degrees (`heading_err_mean`, `heading_err_p95`)."""
    for name, value, least in (("--sizes", size, 8), ("--scenes", scenes, 1), ("batch", batch, 1)):
        if value < least:
            raise ValueError(f"{name}: expected at least {least}, got {value}")
    generator = torch.Generator().manual_seed(seed)
    right = dict.fromkeys(PREDICATES, 0.0)
    counted = dict.fromkeys(PREDICATES, 0)
    errors = []
    for start in range(0, scenes, batch):
        scene = sample_bare(generator, min(batch, scenes - start))
        seen = read_out(render(scene, size))
        guess = dataclasses.replace(scene, agent=seen.agent, heading=seen.heading, gold=seen.gold.unsqueeze(1))
        clear = ~geometry.turn_is_ambiguous(scene.heading, geometry.gold_direction(scene))
        for name, (predicate, off_ties) in PREDICATES.items():
            agree = predicate(scene) == predicate(guess)
            if off_ties:
                agree = agree[clear]
            right[name] += float(agree.float().sum())
            counted[name] += agree.numel()
        errors.append(geometry.angle_difference(seen.heading, scene.heading).abs().rad2deg())
    error = torch.cat(errors)
    out = {name: right[name] / max(1, counted[name]) for name in PREDICATES}
    out["heading_err_mean"] = float(error.mean())
    out["heading_err_p95"] = float(error.quantile(0.95))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/readout_ceiling.py", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64], help="image sizes in px (default: 64)")
    parser.add_argument("--scenes", type=int, default=4096, help="bare scenes per size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        results = {size: ceiling(size, args.scenes, args.seed) for size in args.sizes}
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    if args.json:
        print(json.dumps({str(size): r for size, r in results.items()}, indent=1))
        return 0
    print(f"{'predicate':<26}" + "".join(f"{f'{size} px':>10}" for size in results))
    for name in list(PREDICATES) + ["heading_err_mean", "heading_err_p95"]:
        label = name + " (deg)" if name.startswith("heading") else name
        print(f"{label:<26}" + "".join(f"{r[name]:>10.3f}" for r in results.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
