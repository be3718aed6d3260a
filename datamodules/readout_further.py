"""`readout_further` — imagine yourself further from the gold.

Skill: move the agent, in imagination, further from the gold by at least `m`, staying in the room
and leaving the gold where it is. One step per episode: the whole room of a bare scene in, a prompt,
and **no target image** — the brain draws the room it imagines, and the drawing's read-out is scored
(`lit_modules/readout_loss.py`; the rule in `penguin.game.readout_goal`).

| question kind | prompt (canonical) | the read-out scene must show (plus radii right, looks like a game) |
|---|---|---|
| `readout_further` | "imagine yourself further from the gold" | agent ≥ `m` further from the gold, in the room; gold kept |

Goal rule (the agent moves, the gold stays): `d(â, ĝ) ≥ d(a₀, g₀) + m`, the agent inside its box
(the room), `ĝ = g₀`, radii `r_a`, `r_g`. "The read-out" is `soft_read_out` of the drawing (hard
`read_out` for the validation metric `readout_acc`); `d` uses both coordinates, `c = r_a + r_g`,
`m = 0.1`.

Input: `sample_goal_scenes`: bare scenes (`sample_bare`) redrawn until the goal is feasible with
`SLACK = 0.025` to spare (98 % of bare scenes are). The step carries a `ReadoutGoal` (kind + input
scene); `facts` record per sample `input_distance` (`d(a₀, g₀)`) and `bound` (`d(a₀, g₀) + m`, the
smallest allowed read-out distance), written by `tasks show`, whose JSONL names the target
`"readout"`. Loss terms: readout (1.0) + a small LM term on the prompt (0.02) + naming the kind; no
image, no answer term. Target statistics (4096 samples): the input distance `d₀` has 5 / 50 / 95 %
quantiles 0.11 / 0.34 / 0.55 room units (the bound 0.21 / 0.44 / 0.65); the goal's `example` moves
the agent 0.14 / 0.15 / 0.91 (0.15 = m + 2·SLACK along the gold→agent ray; the long moves go to the
far corner when the ray meets a wall). The term at 64 px (1024 samples): a render of the example
scene 0.013, the input copied 2.5, a blank drawing 27.2, noise 29.2; `readout_acc` is 1.0 on example
renders and 0 on copies.
"""
from __future__ import annotations

from datamodules.readout_task import ReadoutTask
from datamodules.registry import register
from penguin.game.readout_goal import FURTHER
from penguin.text.prompts import QuestionKind

READOUT_FURTHER = QuestionKind(
    "readout_further",
    rule=("no target image: the read-out must keep the radii and the gold, and put the agent "
          "further from the gold by a margin, inside the room"),
    canonical=("imagine yourself further from the gold",
               "picture yourself farther from the gold"),
    paraphrases=("imagine you stand further from the gold",),
)

KINDS = (READOUT_FURTHER,)


@register
class ReadoutFurther(ReadoutTask):
    name = "readout_further"
    description = ("imagine yourself further from the gold"
                   " -> read-out: agent further by a margin, in the room, gold kept")
    question_kinds = KINDS
    goal = FURTHER
