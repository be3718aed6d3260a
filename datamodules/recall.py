"""`recall` — show the view from k steps ago.

Skill: keep what was seen. A 4-step episode of independent bare scenes (`penguin.recall`): steps
1‥3 show their scene and reconstruct it; step 4 shows scene 4 and asks for the view from k steps
ago, k uniform in 0‥3, so its target is the view of step 4 − k. For k ≥ 1 that view is not the
input (an independent scene): the brain reaches it only through its canvases (canvas k − 1 holds
its drawing of step 4 − k, `penguin.recall`'s invariant) or its memory.

| question kind   | step  | prompt (canonical)                                   | target                      |
|-----------------|-------|------------------------------------------------------|-----------------------------|
| `look_at_scene` | 1‥3   | "look at this scene"                                 | the step's own view         |
| `recall`        | 4     | k = 0: "show the current view"; k = 1‥3: "show the view from {ago}" ({ago} = one step ago / two steps ago / three steps ago) | the view of step 4 − k |

Input: a bare scene at every step. Loss terms: image (MSE; averaged over the four steps, so the
recall step is a quarter of the term and the three reconstructions, which keep the canvases
holding the views, the rest) + a small LM term on the prompts (0.02) + naming the kind; no answer.
`facts`: `recalled_step` (1‥4, the step whose view the target is) and `k` on every step (steps
1‥3: their own view, k = 0).

Target statistics (4,096 episodes): k = 0, 1, 2, 3 each 25 % (uniform by construction: 25.2 %,
26.2 %, 23.8 %, 24.7 % measured), so in 75 % of episodes the last target is a scene other than the
input; two scenes' renders never coincide (independent agents, headings and gold).
"""
from __future__ import annotations

from typing import Any

from datamodules.recall_task import RecallTask
from datamodules.registry import register
from penguin.episode import TermWeights
from penguin.recall import AGO, RecallViews
from penguin.text.prompts import QuestionKind

LOOK_AT_SCENE = QuestionKind(
    "look_at_scene",
    rule="target: the input view itself (the reconstruction that fills the canvases before a recall)",
    canonical=("look at this scene",
               "look at this room"),
    paraphrases=("here is a scene, look at it",
                 "take a look at this scene"),
)

RECALL = QuestionKind(
    "recall",
    rule=("target: the view the brain saw k steps before the current one; k = 0 is the current view, "
          "k = 1..3 fill {ago}"),
    canonical=("show the current view",
               "show the view from {ago}"),
    paraphrases=("show what you see now",
                 "show what you saw {ago}"),
    slot="ago",
    slot_values=AGO,
)

KINDS = (LOOK_AT_SCENE, RECALL)


@register
class Recall(RecallTask):
    name = "recall"
    description = "4 scenes in a row; at the last: show the view from k = 0..3 steps ago"
    question_kinds = KINDS
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def last_targets(self, recall: RecallViews) -> dict[str, Any]:
        return {"target": recall.recalled()}
