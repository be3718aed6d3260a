"""`readout_gold_upper_left` — imagine the gold nearer the upper-left corner.

Skill: move the gold, in imagination, nearer the room's upper-left corner `(0, 0)` by at least `m`,
leaving the agent where it is. One step per episode: the whole room of a bare scene in, a prompt,
and **no target image** — the brain draws the room it imagines, and the drawing's read-out is scored
(`lit_modules/readout_loss.py`; the rule in `penguin.game.readout_goal`).

| question kind | prompt (canonical) | the read-out scene must show (plus radii right, looks like a game) |
|---|---|---|
| `readout_gold_upper_left` | "imagine the gold nearer the upper left corner" | gold ≥ `m` nearer `(0, 0)`, clear of the agent; agent kept |

Goal rule (the gold moves, the agent stays): `d(ĝ, 0) ≤ d(g₀, 0) − m` and `d(ĝ, â) ≥ c`, the gold
inside its box, `â = a₀`, radii `r_a`, `r_g`. "The read-out" is `soft_read_out` of the drawing (hard
`read_out` for the validation metric `readout_acc`); `d` uses both coordinates, `c = r_a + r_g`,
`m = 0.1`.

Input: `sample_goal_scenes`: bare scenes (`sample_bare`) redrawn until the goal is feasible with
`SLACK = 0.025` to spare (98 % of bare scenes are). The step carries a `ReadoutGoal` (kind + input
scene); `facts` record per sample `input_distance` (the gold's distance to the corner, `d(g₀, 0)`)
and `bound` (`d(g₀, 0) − m`, the largest allowed read-out distance to the corner), written by `tasks
show`, whose JSONL names the target `"readout"`. Loss terms: readout (1.0) + a small LM term on the
prompt (0.02) + naming the kind; no image, no answer term. Target statistics (4096 samples): the
gold's distance to the corner has 5 / 50 / 95 % quantiles 0.40 / 0.77 / 1.08 room units (the bound
0.30 / 0.67 / 0.98); the goal's `example` moves the gold 0.15 / 0.15 / 0.17. The term at 64 px (1024
samples): a render of the example scene 0.009, the input copied 2.5, a blank drawing 17.7, noise
26.3; `readout_acc` is 1.0 on example renders and 0 on copies.
"""
from __future__ import annotations

from datamodules.readout_task import ReadoutTask
from datamodules.registry import register
from penguin.game.readout_goal import GOLD_UPPER_LEFT
from penguin.text.prompts import QuestionKind

READOUT_GOLD_UPPER_LEFT = QuestionKind(
    "readout_gold_upper_left",
    rule=("no target image: the read-out must keep the radii and the agent, and put the gold nearer "
          "the upper-left corner (0, 0) by a margin"),
    canonical=("imagine the gold nearer the upper left corner",
               "picture the gold closer to the top left corner"),
    paraphrases=("imagine the gold moved toward the upper left corner",),
)

KINDS = (READOUT_GOLD_UPPER_LEFT,)


@register
class ReadoutGoldUpperLeft(ReadoutTask):
    name = "readout_gold_upper_left"
    description = ("imagine the gold nearer the upper-left corner"
                   " -> read-out: gold nearer (0, 0) by a margin, agent kept")
    question_kinds = KINDS
    goal = GOLD_UPPER_LEFT
