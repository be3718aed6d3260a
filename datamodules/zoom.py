"""`zoom` — show a close-up of the agent, of the gold, or of the space between them.

Skill: find an object in the whole-room image and redraw the room as the camera would see it
magnified around that object (docs/game.md "Zoom"). One step per episode: the whole room in, a
prompt of one zoom kind, the zoomed view of the same scene as the target image.

| question kind   | prompt (canonical)                  | target                                              |
|-----------------|-------------------------------------|-----------------------------------------------------|
| `zoom_agent`    | "zoom in on you"                    | the view zoomed ×6 (`ZOOM_FACTORS`) on the agent's centre |
| `zoom_gold`     | "zoom in on the gold"               | the view zoomed ×8 on the gold's centre (`first_gold()`) |
| `zoom_midpoint` | "zoom in between you and the gold"  | the view zoomed ×2 on `(agent + gold) / 2`          |

Target rule: `View.of(scene, zoom_center=c, zoom_factor=f)` — the one renderer, rasterised at the
zoomed scale. The window (side `1/f` room units) is centred on `c` and, as for every zoom, shifted
to stay inside the room, so near a wall the object is off the image centre. The recorded zoom
centre (`target_view.zoom_center` in `python -m penguin.tasks show`) is `c` itself, before that
shift.

Input: a bare scene (`sample_bare`), the whole room. Kinds: uniform over the asked kinds (the
`kinds` option selects a subset). Loss terms: image (MSE) + a small LM term on the prompt (0.02)
+ naming the kind; no answer.

Target statistics: at 64 px the agent's disc is 38 px across in a ×6 target and the coin 16 px
in a ×8 one; in a ×2 target (half the room) both objects are always in view (2,000 samples,
seed 0), the agent's whole disc in 80 % (otherwise the window edge cuts it).
"""
from __future__ import annotations

import torch

from datamodules.base import TaskDataModule
from datamodules.registry import register
from penguin.episode import EpisodeSpec, TermWeights, View, text_step
from penguin.game.sampling import sample_bare
from penguin.text.prompts import QuestionKind

ZOOM_AGENT = QuestionKind(
    "zoom_agent",
    rule="target: the view zoomed ×6 on the agent's centre",
    canonical=("zoom in on you",
               "zoom on the agent"),
    paraphrases=("show a close up of you",
                 "magnify the area around you",
                 "zoom in on the agent"),
)

ZOOM_GOLD = QuestionKind(
    "zoom_gold",
    rule="target: the view zoomed ×8 on the gold's centre",
    canonical=("zoom in on the gold",
               "zoom on the gold"),
    paraphrases=("show a close up of the gold",
                 "magnify the area around the gold",
                 "zoom right in on the gold"),
)

ZOOM_MIDPOINT = QuestionKind(
    "zoom_midpoint",
    rule="target: the view zoomed ×2 on the midpoint between agent and gold",
    canonical=("zoom in between you and the gold",
               "zoom on the midpoint between you and the gold"),
    paraphrases=("show a close up of the space between you and the gold",
                 "magnify the middle between you and the gold"),
)

KINDS = (ZOOM_AGENT, ZOOM_GOLD, ZOOM_MIDPOINT)
ZOOM_FACTORS = {"zoom_agent": 6.0, "zoom_gold": 8.0, "zoom_midpoint": 2.0}


@register
class Zoom(TaskDataModule):
    name = "zoom"
    description = "zoom on the agent (x6) / the gold (x8) / their midpoint (x2) -> that zoomed view"
    question_kinds = KINDS
    kinds_are_fixed = False
    default_weights = TermWeights(image=1.0, answer=0.0, lm=0.02, value=0.0, slot=0.0, kind=1.0)

    def sample(self, generator: torch.Generator, batch: int) -> EpisodeSpec:
        scene = sample_bare(generator, batch)
        kind = torch.randint(0, len(self.kinds), (batch,), generator=generator)  # indexes self.kinds
        agent, gold = scene.agent, scene.first_gold()
        # Candidate centres [B, 3, 2] in the order of KINDS; `which` maps an asked kind to its column.
        centres = torch.stack([agent, gold, (agent + gold) / 2], 1)
        which = torch.tensor([[k.name for k in KINDS].index(name) for name in self.kinds])[kind]
        centre = centres[torch.arange(batch), which]
        factor = torch.tensor([ZOOM_FACTORS[name] for name in self.kinds])[kind]
        reply = self.replies.ids[torch.zeros(batch, dtype=torch.long)]
        step = text_step(self.questions.draw(generator, kind), reply, answer_loss=False,
                         pad_id=self.tokenizer.pad_id, input=View.of(scene),
                         target=View.of(scene, zoom_center=centre, zoom_factor=factor), question=kind)
        return self.spec(step)
