"""`imagine_facing` — imagine facing the gold.

Skill: find the direction from the agent to the gold and redraw the agent turned toward it. One
step per episode: the whole room in, a prompt, the same room with the agent's heading set to the
gold's direction as the target image.

| question kind    | prompt (canonical)          | target                                                  |
|------------------|-----------------------------|---------------------------------------------------------|
| `imagine_facing` | "imagine facing the gold"   | the scene with `heading = gold_direction(scene)`, same position |

Target rule: `View.of(scene.replace(heading=gold_direction(scene)))` — the one renderer; only the
eye moves (it sits `EYE_OFFSET` from the body centre along the new heading, toward the gold), so
the body, the walls and the gold keep their pixels. The input scene is never changed:
`Scene.replace` makes a new scene that shares every other tensor, and nothing writes in place.
The turned heading is exact (not rounded to turn steps: this is imagination, not an action).

Input: the whole room of a bare scene (`sample_bare`). One kind (the `kinds` option may name it).
Loss terms: image (MSE) + a small LM term on the prompt (0.02) + naming the kind; no answer.
Target statistics: the heading change `|angle_difference(gold_direction, θ)|` is uniform in
`[0, π]` (θ is uniform and independent of the gold), so in about 3 % of samples (≤ 6°, one turn)
the target is nearly the input; at 64 px the eye moves by up to 2·0.6·r_a = 3.8 px.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.geometry import gold_direction
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

IMAGINE_FACING = QuestionKind(
    "imagine_facing",
    rule="target: the same position with the heading turned toward the gold",
    canonical=("imagine facing the gold",
               "show yourself facing the gold"),
    paraphrases=("picture yourself turned toward the gold",
                 "what would you see if you faced the gold?"),
)

KINDS = (IMAGINE_FACING,)


@register
class ImagineFacing(TaskDataModule):
    name = "imagine_facing"
    description = "imagine facing the gold -> same position, heading toward the gold"
    question_kinds = KINDS
    kinds_are_fixed = False
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        facing = scene.replace(heading=gold_direction(scene))  # a new scene; `scene` is untouched
        kind = torch.zeros(batch, dtype=torch.long)  # the one kind
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        step = text_step(self.questions.draw(generator, kind), reply, answer_loss=False,
                         pad_id=self.tokenizer.pad_id, input=View.of(scene), target=View.of(facing),
                         question=kind)
        return self.spec(step)
