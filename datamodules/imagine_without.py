"""`imagine_without` — imagine the room without you, without the gold, without walls, or with
walls only.

Skill: separate the image into its layers (agent, gold, walls; docs/game.md "Objects") and redraw
the room with some of them left out. One step per episode: the whole room in, a prompt of one
kind, the same scene rendered with the named layers hidden as the target image.

| question kind           | prompt (canonical)                     | target: the scene rendered with … |
|-------------------------|----------------------------------------|-----------------------------------|
| `imagine_without_agent` | "imagine the room without you"         | `hide_agent`                      |
| `imagine_without_gold`  | "imagine the room without the gold"    | `hide_gold` (every coin)          |
| `imagine_without_walls` | "imagine the room without walls"       | `hide_walls` (side and interior)  |
| `imagine_walls_only`    | "imagine the room with walls only"     | `hide_agent` and `hide_gold`      |

Target rule: `View.of(scene, hide_agent=…, hide_gold=…, hide_walls=…)` — the one renderer, so a
hidden layer's pixels show what lies under it (floor, or for the agent a wall edge drawn over it)
and every other pixel equals the input's. No overlay is drawn, so hidden walls leave nothing.

Input: the whole room of a bare scene (`sample_bare`, side walls and one coin) or a full scene
(`sample_full`: 1–2 interior walls at any angle, 1–2 coins), half each (`FULL_SHARE`), drawn per
sample; full scenes give the wall kinds walls that are not just the room's edge. Kinds: uniform
over the asked kinds (the `kinds` option selects a subset). Loss terms: image (MSE) + a small LM
term on the prompt (0.02) + naming the kind; no answer.

Target statistics (pixels that differ from the input, 64 px, mean over 2,000 samples, seed 0):
hidden agent 43 (its disc and soft rim), hidden gold 7 in bare / 11 in full scenes (1–2 coins),
hidden walls 948 bare / 1,226 full (23–30 % of the image), walls only 50 / 54 — the gold kind's
target differs least from its input, so the loss rewards finding the coin only weakly.
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.sampling import sample_bare, sample_full
from penguin.game.scene import Scene
from penguin.text.prompts import QuestionKind

IMAGINE_WITHOUT_AGENT = QuestionKind(
    "imagine_without_agent",
    rule="target: the scene rendered with the agent hidden",
    canonical=("imagine the room without you",
               "show the room without the agent"),
    paraphrases=("picture the room with you removed",
                 "what does the room look like without you?"),
)

IMAGINE_WITHOUT_GOLD = QuestionKind(
    "imagine_without_gold",
    rule="target: the scene rendered with the gold hidden",
    canonical=("imagine the room without the gold",
               "show the room without the gold"),
    paraphrases=("picture the room with the gold removed",
                 "what does the room look like without the gold?"),
)

IMAGINE_WITHOUT_WALLS = QuestionKind(
    "imagine_without_walls",
    rule="target: the scene rendered with the walls hidden",
    canonical=("imagine the room without walls",
               "show the room without walls"),
    paraphrases=("picture the room with the walls removed",
                 "what does the room look like without walls?"),
)

IMAGINE_WALLS_ONLY = QuestionKind(
    "imagine_walls_only",
    rule="target: the scene rendered with agent and gold hidden (walls only)",
    canonical=("imagine the room with walls only",
               "show only the walls"),
    paraphrases=("picture the empty room with just its walls",
                 "what do the walls alone look like?"),
)

KINDS = (IMAGINE_WITHOUT_AGENT, IMAGINE_WITHOUT_GOLD, IMAGINE_WITHOUT_WALLS, IMAGINE_WALLS_ONLY)
# Which layers each kind hides: (hide_agent, hide_gold, hide_walls), in the order of KINDS.
HIDDEN = {
    "imagine_without_agent": (True, False, False),
    "imagine_without_gold": (False, True, False),
    "imagine_without_walls": (False, False, True),
    "imagine_walls_only": (True, True, False),
}
FULL_SHARE = 0.5  # share of full scenes (interior walls, 1-2 coins); the rest are bare


def sample_bare_or_full(generator: torch.Generator, batch: int, full_share: float = FULL_SHARE) -> Scene:
    """Scenes `[B]`, sample `i` full where a uniform draw is below `full_share`, else bare (slots
    padded to the full scene's). The batch keeps its order: bare and full samples interleave."""
    full = torch.rand(batch, generator=generator) < full_share
    n_full = int(full.sum())
    parts = ([sample_bare(generator, batch - n_full)] if n_full < batch else []) + \
            ([sample_full(generator, n_full)] if n_full > 0 else [])
    joined = Scene.cat(parts)  # bare samples first, then full ones
    # Sample i takes the next bare row if it is bare, the next full row otherwise.
    position = torch.where(full, (batch - n_full) + torch.cumsum(full.long(), 0) - 1,
                           torch.cumsum((~full).long(), 0) - 1)
    return joined[position]


@register
class ImagineWithout(TaskDataModule):
    name = "imagine_without"
    description = "imagine the room without you / the gold / walls, or with walls only -> that render"
    question_kinds = KINDS
    kinds_are_fixed = False
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare_or_full(generator, batch)
        kind = torch.randint(0, len(self.kinds), (batch,), generator=generator)  # indexes self.kinds
        hidden = torch.tensor([HIDDEN[name] for name in self.kinds])[kind]  # [B, 3] bool
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        target = View.of(scene, hide_agent=hidden[:, 0], hide_gold=hidden[:, 1], hide_walls=hidden[:, 2])
        step = text_step(self.questions.draw(generator, kind), reply, answer_loss=False,
                         pad_id=self.tokenizer.pad_id, input=View.of(scene), target=target, question=kind)
        return self.spec(step)
