"""`readout_closer` — imagine yourself closer to the gold.

Skill: move the agent, in imagination, at least halfway toward the gold, leaving the gold where it
is. One step per episode: the whole room of a bare scene in, a prompt, and **no target image** — the
brain draws the room it imagines, and the drawing's read-out is scored
(`lit_modules/readout_loss.py`; the rule in `penguin.game.readout_goal`).

| question kind | prompt (canonical) | the read-out scene must show (plus radii right, looks like a game) |
|---|---|---|
| `readout_closer` | "imagine yourself closer to the gold" | agent ≥ halfway to the gold, not touching it; gold kept |

Goal rule (the agent moves, the gold stays): `c ≤ d(â, ĝ) ≤ d(a₀, g₀) / 2`, the agent inside its
box, `ĝ = g₀`, radii `r_a`, `r_g`. "The read-out" is `soft_read_out` of the drawing (hard `read_out`
for the validation metric `readout_acc`); `d` uses both coordinates, `c = r_a + r_g`, `m = 0.1`.

Input: `sample_goal_scenes`: bare scenes (`sample_bare`) redrawn until the goal is feasible with
`SLACK = 0.025` to spare (75 % of bare scenes are). The step carries a `ReadoutGoal` (kind + input
scene); `facts` record per sample `input_distance` (`d(a₀, g₀)`) and `bound` (`d(a₀, g₀) / 2`, the
largest allowed read-out distance), written by `tasks show`, whose JSONL names the target
`"readout"`. Loss terms: readout (1.0) + a small LM term on the prompt (0.02) + naming the kind; no
image, no answer term. Target statistics (4096 samples): the input distance `d₀` has 5 / 50 / 95 %
quantiles 0.25 / 0.39 / 0.57 room units (the halfway bound 0.13 / 0.20 / 0.29); the goal's `example`
moves the agent 0.15 / 0.27 / 0.40. The term at 64 px (1024 samples): a render of the example scene
0.012 (the read-out's own error), the input copied 6.3, a blank drawing 12.7, noise 30.1;
`readout_acc` is 1.0 on example renders and 0 on copies.
"""
from __future__ import annotations

from datamodules.readout_task import ReadoutTask
from datamodules.registry import register
from penguin.game.readout_goal import CLOSER
from penguin.text.prompts import QuestionKind

READOUT_CLOSER = QuestionKind(
    "readout_closer",
    rule=("no target image: the read-out of the prediction must keep the radii and the gold, and "
          "put the agent at least halfway to the gold"),
    canonical=("imagine yourself closer to the gold",
               "picture yourself nearer to the gold"),
    paraphrases=("imagine you stand closer to the gold",),
)

KINDS = (READOUT_CLOSER,)


@register
class ReadoutCloser(ReadoutTask):
    name = "readout_closer"
    description = ("imagine yourself closer to the gold"
                   " -> read-out: agent at least halfway to the gold, gold kept")
    question_kinds = KINDS
    goal = CLOSER
