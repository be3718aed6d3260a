"""`imagine_closer` — imagine being halfway to the gold, facing it.

Skill: find the gold's direction and distance and redraw the agent half the way there, turned
toward it. One step per episode: the whole room in, a prompt, the room with the agent moved as
the target image.

| question kind    | prompt (canonical)                               | target                                   |
|------------------|--------------------------------------------------|------------------------------------------|
| `imagine_closer` | "imagine being halfway to the gold, facing it"   | the agent at the agent–gold midpoint, heading toward the gold |

Target rule: heading `φ = gold_direction(scene)` (exact, not rounded to turn steps: this is
imagination, not an action); the agent walks straight along `φ` for half the agent–gold distance
`|d|/2`, with the physics' own wall rule (`physics.free_distance`): a wall on the way stops it
`CONTACT_GAP` short of touching. Bare scenes have only the side walls and the room inside them is
convex, so the walk is cut only where the midpoint itself is too close to a wall for the agent's
disc (agent and gold both near the same wall): then the agent stops where its disc touches that
wall, still on the agent→gold line. Then the physics' gold rule (`physics.collect_gold`): if the
agent's centre ends closer than `r_a + r_g` to the gold's — at the midpoint, iff `|d| < 2(r_a +
r_g) ≈ 0.131` — the gold is collected and the target shows no coin. The target's scene is this
moved scene, rendered with `View.of`; the input scene is never changed.

Input: the whole room of a bare scene (`sample_bare`). One kind (the `kinds` option may name it).
Facts (written by `tasks show`): `walk` (the distance walked), `stopped_by_wall` (the walk was cut
short), `gold_collected`.
Loss terms: image (MSE) + a small LM term on the prompt (0.02) + naming the kind; no answer.

Target statistics (20,000 samples; tests/test_frameworks_moves.py recomputes them): the gold is
collected in 7.3 % of the targets, a wall cuts the walk in 0.5 %; the walk is 0.17 room units on
average (median 0.17, about 11 px at 64 px). Sampling: about 30,000 samples/s on one core at
batch 64.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.geometry import gold_direction, gold_distance
from penguin.game.physics import collect_gold, free_distance
from penguin.game.sampling import sample_bare
from penguin.game.scene import heading_vector
from penguin.text.prompts import QuestionKind

IMAGINE_CLOSER = QuestionKind(
    "imagine_closer",
    rule="target: the agent moved to the midpoint between agent and gold, heading toward the gold",
    canonical=("imagine being halfway to the gold, facing it",
               "show yourself halfway to the gold, facing it"),
    paraphrases=("picture yourself halfway to the gold and facing it",
                 "what would you see halfway to the gold, facing it?"),
)

KINDS = (IMAGINE_CLOSER,)


@register
class ImagineCloser(TaskDataModule):
    name = "imagine_closer"
    description = "imagine being halfway to the gold, facing it -> the agent at the midpoint, turned to the gold"
    question_kinds = KINDS
    kinds_are_fixed = False
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        phi = gold_direction(scene)
        direction = heading_vector(phi.double())
        half = gold_distance(scene).double() / 2
        walk = torch.minimum(free_distance(scene, direction, length=1.0), half)
        agent = (scene.agent.double() + direction * walk.unsqueeze(-1)).to(scene.agent.dtype)
        closer, collected = collect_gold(scene.replace(agent=agent, heading=phi))  # new scenes; `scene` is untouched
        kind = torch.zeros(batch, dtype=torch.long)  # the one kind
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        facts = {"walk": walk.to(scene.agent.dtype), "stopped_by_wall": walk < half,
                 "gold_collected": collected.long()}
        step = text_step(self.questions.draw(generator, kind), reply, answer_loss=False,
                         pad_id=self.tokenizer.pad_id, input=View.of(scene), target=View.of(closer),
                         question=kind, facts=facts)
        return self.spec(step)
