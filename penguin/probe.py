"""`python -m penguin.probe`: can the brain's image encoder find what a question asks about?

A probe isolates the image pathway from the rest of the brain. It trains a fresh brain's
`ImageEncoder`, a max over its tokens and a small head to give a two-answer task's answer
(for example balanced `near_gold_qa`: yes/no) straight from the rendered image, and prints the
running accuracy. No context encoder, no text decoder, no memory: if the probe learns and the brain
does not, the loss of information is downstream of the encoder; if the probe does not learn, the
encoder itself hides the object.

    python -m penguin.probe                              # near_gold_qa, linear head, 2,000 steps
    python -m penguin.probe --task side_qa --kinds gold_left_right --steps 3000
    python -m penguin.probe --head tied --head-init brain   # the brain's reply path in miniature
    python -m penguin.probe --task near_gold_qa --stem patch   # another image stem

Heads (`--head`):
- `linear`: one linear layer from the pooled features to the two answers.
- `mlp`: linear, GELU, linear — a head that can form products of pooled features (a heading times
  a direction), which a linear head cannot.
- `tied`: the shape of the brain's answer path — linear, LayerNorm, a learned `<sep>`-like vector
  added, LayerNorm, and dot products with two learned answer embeddings (the brain's tied
  vocabulary head).

`--head-init brain` initialises the head's linear layers and embeddings like the brain does
(truncated normal, std 0.02); `torch` keeps PyTorch's defaults (fan-in uniform) and gives the
embeddings std `width ** -0.5`. bench/RESULTS.md records what each combination reached.

Every batch is the task's own training batch (seeded by step), rendered at the preset's image size;
the answer is the reply's first token, so a label is whatever the task says it is.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from datamodules import registry
from penguin.brain import Brain
from penguin.brain.brain import INIT_STD, initialise
from penguin.brain.config import STEMS


HEADS = ("linear", "mlp", "tied")


class TiedHead(nn.Module):
    """Pooled features → two answer logits through the brain's answer path in miniature."""

    def __init__(self, width: int, init: str) -> None:
        super().__init__()
        self.project = nn.Linear(width, width)
        self.project_norm = nn.LayerNorm(width)
        self.output_norm = nn.LayerNorm(width)
        std = INIT_STD if init == "brain" else width ** -0.5
        self.separator = nn.Parameter(torch.randn(width) * INIT_STD)
        self.answers = nn.Parameter(torch.randn(2, width) * std)

    def forward(self, pooled: Tensor) -> Tensor:
        hidden = self.output_norm(self.separator + self.project_norm(self.project(pooled)))
        return hidden @ self.answers.T


def make_head(kind: str, width: int, init: str) -> nn.Module:
    """The probe's head (`linear`, `mlp` or `tied`), initialised like the brain or like PyTorch."""
    heads = {"linear": lambda: nn.Linear(width, 2),
             "mlp": lambda: nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 2)),
             "tied": lambda: TiedHead(width, init)}
    head = heads[kind]()
    if init == "brain":
        head.apply(initialise)
    return head


def run(task: str = "near_gold_qa", *, kinds: list[str] | None = None, preset: str = "tiny64",
        stem: str | None = None, head: str = "linear", head_init: str = "torch", steps: int = 2000, batch: int = 32,
        lr: float = 1e-3, seed: int = 0, report_every: int = 200, echo=print) -> list[float]:
    """Train the probe; returns the accuracy of each `report_every` steps (and echoes each)."""
    for name, value in (("steps", steps), ("batch", batch), ("report_every", report_every)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1; got {value}")
    torch.manual_seed(seed)
    brain = Brain.from_preset(preset, **({"stem": stem} if stem else {}))
    encoder, size = brain.image_encoder, brain.config.image_size
    options = {"kinds": kinds} if kinds else {}
    data = registry.get(task)(batch_size=batch, image_size=size, seed=seed, **options)
    reader = make_head(head, brain.config.width, head_init)
    parameters = list(encoder.parameters()) + list(reader.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.98), weight_decay=0.05)
    first_answer = None
    hits: list[float] = []
    reports: list[float] = []
    start = time.perf_counter()
    for step in range(steps):
        episode_step = data.train_batch(step).render(size).steps[0]
        if episode_step.image is None or episode_step.reply_ids is None or not episode_step.has_answer:
            raise ValueError(f"task {task!r} has no image question to probe; pick a QA task")
        answer = episode_step.reply_ids[:, 1]
        if first_answer is None:
            first_answer = int(answer.min())
        label = (answer != first_answer).long()
        if answer[label == 1].unique().numel() > 1:
            raise ValueError(f"task {task!r} gives more than two answers; ask one pair with --kinds")
        logits = reader(encoder(episode_step.image).amax(dim=1))
        loss = F.cross_entropy(logits, label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        hits.append((logits.argmax(dim=1) == label).float().mean().item())
        if (step + 1) % report_every == 0:
            accuracy = sum(hits[-report_every:]) / report_every
            reports.append(accuracy)
            echo(f"step {step + 1:5d}  {time.perf_counter() - start:6.0f} s  "
                 f"accuracy over the last {report_every} batches {accuracy:.3f}")
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penguin.probe", description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="near_gold_qa", choices=registry.names())
    parser.add_argument("--kinds", nargs="+", help="question kinds to ask (default: the task's own)")
    parser.add_argument("--preset", default="tiny64")
    parser.add_argument("--stem", choices=STEMS, help="the image stem (default: the preset's; penguin/brain/vision.py)")
    parser.add_argument("--head", default="linear", choices=HEADS)
    parser.add_argument("--head-init", default="torch", choices=["torch", "brain"])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-every", type=int, default=200, help="steps per printed accuracy")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        run(args.task, kinds=args.kinds, preset=args.preset, stem=args.stem, head=args.head, head_init=args.head_init,
            steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, report_every=args.report_every)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
