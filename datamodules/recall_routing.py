"""`recall_routing` — point the canvas selection at the view from k steps ago.

Skill: route attention to the right image. The episode of `recall` (`penguin.recall`): steps 1‥3
show independent bare scenes and reconstruct them; step 4 shows scene 4 and asks which image
shows the view from k steps ago, k uniform in 0‥3. Instead of drawing that view, step 4
supervises the canvas-selection **logits** directly: `slot_target = k`, the index into
[input, canvas 0, canvas 1, canvas 2] that holds it (k = 0 the input; k ≥ 1 canvas k − 1, which
holds the brain's drawing of step 4 − k — `penguin.recall`'s invariant, `slot_of_ago`).

| question kind  | step  | prompt (canonical)                                        | target                     |
|----------------|-------|-----------------------------------------------------------|----------------------------|
| `see_scene`    | 1‥3   | "here is a scene"                                         | the step's own view (image) |
| `route_recall` | 4     | k = 0: "which image shows the current view?"; k = 1‥3: "which image shows the view from {ago}?" | `slot_target = k` |

Loss terms: `slot` — one cross-entropy of the selection logits against `slot_target`
(`lit_modules/terms.py`; a single softmax, never a second one over normalised weights), on step 4
only; `image` — the reconstructions of steps 1‥3 (averaged over them), which make canvas k − 1 hold
what step 4 − k saw, so routing to it is worth learning; a small LM term (0.02) on the prompts;
naming the kind. Step 4 has no image target and no answer. Weights: slot 1, image 1, lm 0.02,
kind 1. `facts`: `recalled_step` (1‥4) and `k` on every step (steps 1‥3: their own view, k = 0).

Target statistics (4,096 episodes): `slot_target` 0, 1, 2, 3 each 25 % (uniform by construction:
25.0 %, 25.8 %, 24.4 %, 24.8 % measured); chance cross-entropy ln 4 = 1.386.
"""
from __future__ import annotations

from typing import Any

from datamodules.recall_task import RecallTask
from datamodules.registry import register
from penguin.episode import TermWeights
from penguin.recall import AGO, RecallViews, slot_of_ago
from penguin.text.prompts import QuestionKind

SEE_SCENE = QuestionKind(
    "see_scene",
    rule="target: the input view itself (the reconstruction that fills the canvases before a routing question)",
    canonical=("here is a scene",
               "see this scene"),
    paraphrases=("here comes a scene",
                 "this is the scene you see"),
)

ROUTE_RECALL = QuestionKind(
    "route_recall",
    rule=("slot target: the index into [input, canvas 0, canvas 1, canvas 2] of the view from k steps ago, "
          "which is k (k = 0: the input; k = 1..3 fill {ago})"),
    canonical=("which image shows the current view?",
               "which image shows the view from {ago}?"),
    paraphrases=("which picture shows what you see now?",
                 "which picture shows what you saw {ago}?"),
    slot="ago",
    slot_values=AGO,
)

KINDS = (SEE_SCENE, ROUTE_RECALL)


@register
class RecallRouting(RecallTask):
    name = "recall_routing"
    description = "4 scenes in a row; at the last: select the image (input or canvas) of the view from k steps ago"
    question_kinds = KINDS
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=1.0, kind=1.0)

    def last_targets(self, recall: RecallViews) -> dict[str, Any]:
        return {"slot_target": slot_of_ago(recall.ago)}
