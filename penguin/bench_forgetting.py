"""`python -m penguin.bench forgetting` — does the task sampler stop old skills from decaying?

A seeded, controlled experiment in two phases, each a real `python -m penguin.fit` run:

1. **Phase 1** trains the old set A alone for `--phase1-steps` (default: the recipe of
   `configs/tiny_cpu.yaml`, known to reach its targets in 3,000 steps — `side_qa` on its left/right
   kinds, `near_gold_qa` and `arrow`, whose reconstruction is what teaches the image encoder to keep
   the coin the questions ask about). Its last checkpoint is saved once, in a run folder
   named after a hash of the phase-1 plan, and reused by every arm and by later invocations with
   the same plan.
2. **Phase 2** warm-starts every arm from that checkpoint (`--model.init_from`, a fresh optimizer
   and schedule: `--phase2-lr` peak after `--phase2-warmup` steps, validated every
   `--phase2-val-every`) and trains A ∪ B for the same `--phase2-steps`, where B (default
   `control`, `turn_qa`, `egocentric_side_qa`, `facing_gold_qa`) are new skills competing for the
   same weights, and A's base share is small (`--old-share`, split evenly over A).

| arm        | phase 2                                                                      |
|------------|------------------------------------------------------------------------------|
| `static`   | fixed shares (A: `old_share`; no correction)                                 |
| `adaptive` | the adaptive sampler with the same base shares and its default options       |
| `lr_scale` | fixed shares, and A's steps at `--old-lr-scale` × the learning rate (the task option `lr_scale`) |

Extra sampler options for the adaptive arm are given with `--adaptive-options '{"tolerance": 0.05}'`.
An arm is reused when a run with the same setting — the sampler's options with its defaults filled
in, so a changed default is a new setting — finished before; `--fresh` runs the arms again anyway
(after a change to the code, which the setting does not see). `--phase2-seed 0 1 2` repeats the
arms with other training scenes and schedule on the same phase 1 (the validation scenes stay
fixed), once per seed: one seed's dips are single validations and can be luck either way.

**Reported** (`OUT/forgetting.json`, and the table printed): whether phase 1 brought every
question task of A to `MASTERY` (0.90); per task of A its best validation score in phase 1
(`phase1_best`), its score at phase 2's start (`start`: the warm-start weights on phase 2's
validation, the same for every arm), the lowest score in phase 2 and the step of that validation
(`low_step`: dips that share a step across tasks are one event of the whole model, not one task's
decay), the dip (`dip`, start minus lowest; `dip_from_best`, phase-1 best minus lowest), the
sustained low and dip (`sustained_low`, the lowest median of three validations in a row, and
`sustained_dip`, the start minus it: a swing one validation wide, which no corrective fed by those
validations can see coming, does not count there; the targets still use the single lowest), the
final score and the training steps the sampler boosted it (boost > 1 from one validation to the
next); per task of B its final score; per arm whether it meets the target: every task of A ends
at most `TARGET_FINAL_DROP` below its phase-1 best, its worst dip is at most half of `static`'s,
and B's final scores are at least
`TARGET_B_RATIO` × `static`'s — counting only the B tasks `static` learned, whose final score is
more than `LEARNED_MARGIN` above the task's chance (`baselines()["chance_exact_acc"]` on the same
validation batches): 0.9 × a score at chance measures noise, not competition. All of that is
per phase-2 seed (`seeds` in the JSON); `summary` lists per arm the seeds on which each target is
met and whether every target is met on every seed. `OUT/forgetting.png` has one row per seed and
one panel per arm: every task's validation score against the step (A solid, B thin), and the
sampler's shares under it.

**Validation size.** The targets count a single lowest validation, so its sampling error is what
they compare: at 256 answers a task at 96 % has a standard error of 1.2 points, so a dip of a few
answers says little about the task on the scenes at large. Phase 2 therefore validates each task
of A on `--old-val-batches` (default 32 batches: 1,024 answers, 0.6 points) and each task of B,
whose finals are compared at a ratio, on `--val-batches` (default 8). Phase 1 keeps
`--val-batches`, so its best is the highest of thirty noisy validations, above what its weights
score on the scenes at large (`side_qa`: 0.992 on 256 answers, 0.969 on 1,024). A dip is a fall
from where phase 2 began, so it is measured from `start`, on the same 1,024 answers as the lowest
score: measured from the phase-1 best, the same few points of luck would be added to both arms'
dips, and "at most half of `static`'s" would count them against the arm that forgets less. The
final target keeps the phase-1 best, the stricter of the two references.

A task's **score** is its exact accuracy (`val/<task>/exact_acc`) for a question task and
`1 − edit_ratio` for the arrow (higher is better for both); other tasks are reported by their
validation loss only.

`--quick` shrinks everything to seconds (a smoke run: it checks the machinery, not forgetting).
Runs go under `--runs` (default `runs/forgetting`); results are not timed tests — record them in
`bench/RESULTS.md` with the machine, date, command and commit.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from PIL import Image, ImageDraw

from penguin.curves_png import COLOURS, frame, polyline
from penguin.fit_runs import read_curves, run_fit

MASTERY = 0.90  # phase 1 must bring every question task of A to this exact accuracy
TARGET_FINAL_DROP = 0.03
TARGET_B_RATIO = 0.9
ARMS = ("static", "adaptive", "lr_scale")
BOOSTED = 1.05  # a boost at least this counts as boosted in the report
LEARNED_MARGIN = 0.10  # a B task static learned ends this far above chance (3 standard errors at 256 samples)


@dataclass(frozen=True)
class Plan:
    old: tuple[str, ...] = ("side_qa", "near_gold_qa", "arrow")
    new: tuple[str, ...] = ("control", "turn_qa", "egocentric_side_qa", "facing_gold_qa")
    phase1_steps: int = 3000
    phase2_steps: int = 1500
    val_every: int = 100
    val_batches: int = 8  # per task; phase 1's, and phase 2's for B
    old_val_batches: int = 32  # phase 2's per task of A, whose single lowest validation the targets count
    batch_size: int = 32
    preset: str = "tiny64"
    lr: float = 1e-3
    phase2_lr: float = 3e-4  # at 1e-3 a fresh AdamW wrecks every old task in the warmup (RESULTS, session 9)
    phase2_warmup: int = 500  # spreads the warm start's dips over validations the sampler sees
    phase2_val_every: int = 50
    old_share: float = 0.1
    old_lr_scale: float = 0.3
    seed: int = 0
    phase2_seed: int = 0  # the arms' training scenes and schedule; repeats an experiment on one phase 1
    ema_decay: float | None = 0.99  # phase 2's model.ema_decay (None: no average); phase 1 keeps none
    task_options: dict = field(default_factory=lambda: {
        "side_qa": {"kinds": ["gold_left_right", "agent_left_right"]},
        "arrow": {"weights": {"image": 20.0}},
    })

    def phase1_key(self) -> str:
        fields = {k: v for k, v in asdict(self).items()
                  if k in ("old", "phase1_steps", "val_every", "val_batches", "batch_size", "preset", "lr", "seed")}
        fields["task_options"] = {t: o for t, o in self.task_options.items() if t in self.old}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


QUICK = Plan(old=("near_gold_qa",), new=("arrow", "turn_qa"), phase1_steps=6, phase2_steps=6, val_every=3,
             phase2_val_every=2, phase2_lr=5e-4, phase2_warmup=2, val_batches=1, old_val_batches=2, batch_size=4)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Plan()
    parser.add_argument("--old", nargs="+", default=list(d.old), help="the old set A (default: %(default)s)")
    parser.add_argument("--new", nargs="+", default=list(d.new), help="the new set B (default: %(default)s)")
    parser.add_argument("--phase1-steps", type=int, default=d.phase1_steps)
    parser.add_argument("--phase2-steps", type=int, default=d.phase2_steps)
    parser.add_argument("--val-every", type=int, default=d.val_every, help="steps between validations in phase 1")
    parser.add_argument("--phase2-val-every", type=int, default=d.phase2_val_every,
                        help="steps between validations in phase 2")
    parser.add_argument("--phase2-lr", type=float, default=d.phase2_lr, help="phase 2's peak learning rate")
    parser.add_argument("--phase2-warmup", type=int, default=d.phase2_warmup, help="phase 2's warmup steps")
    parser.add_argument("--val-batches", type=int, default=d.val_batches,
                        help="validation batches per task in phase 1, and per task of B in phase 2 (default: %(default)s)")
    parser.add_argument("--old-val-batches", type=int, default=d.old_val_batches,
                        help="validation batches per task of A in phase 2 (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=d.batch_size)
    parser.add_argument("--phase2-seed", type=int, nargs="+", default=[d.phase2_seed],
                        help="seeds of phase 2's training batches and schedule (validation scenes stay fixed); "
                             "each seed repeats the arms on the same phase 1, and the targets are counted per seed "
                             "(default: %(default)s)")
    parser.add_argument("--old-share", type=float, default=d.old_share, help="A's total base share in phase 2")
    parser.add_argument("--old-lr-scale", type=float, default=d.old_lr_scale, help="A's lr_scale in the lr_scale arm")
    parser.add_argument("--ema-decay", type=_decay, default=d.ema_decay, metavar="DECAY|none",
                        help="phase 2's model.ema_decay: every arm is validated, sampled and reported on an "
                             "average of its weights; none: on the trained weights (default: %(default)s)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--adaptive-options", default="{}", help="JSON: extra options of the adaptive sampler")
    parser.add_argument("--runs", default="runs/forgetting", help="where the fit runs go (default: %(default)s)")
    parser.add_argument("--out", default="bench/forgetting", help="folder of forgetting.json/.png (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few steps")
    parser.add_argument("--fresh", action="store_true", help="run the phase-2 arms again even where a finished run "
                        "with the same setting exists (phase 1 is still reused)")


def run(args: argparse.Namespace) -> int:
    seeds = list(dict.fromkeys(args.phase2_seed))  # in the order given, each once
    plan = replace(QUICK, phase2_seed=seeds[0], ema_decay=args.ema_decay) if args.quick else Plan(
        old=tuple(args.old), new=tuple(args.new), phase1_steps=args.phase1_steps, phase2_steps=args.phase2_steps,
        val_every=args.val_every, val_batches=args.val_batches, old_val_batches=args.old_val_batches,
        batch_size=args.batch, old_share=args.old_share,
        old_lr_scale=args.old_lr_scale, phase2_lr=args.phase2_lr, phase2_warmup=args.phase2_warmup,
        phase2_val_every=args.phase2_val_every, phase2_seed=seeds[0], ema_decay=args.ema_decay)
    for seed in seeds:
        _check(replace(plan, phase2_seed=seed))
    try:
        adaptive_options = json.loads(args.adaptive_options)
    except json.JSONDecodeError as e:
        raise ValueError(f"--adaptive-options: not JSON ({e.msg}); e.g. '{{\"tolerance\": 0.05}}'") from None
    if not isinstance(adaptive_options, dict):
        raise ValueError("--adaptive-options: expected a JSON object, e.g. '{\"tolerance\": 0.05}'")
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    phase1 = runs / f"phase1_{plan.phase1_key()}"
    checkpoint, done = phase1 / "checkpoints" / "last.ckpt", phase1 / "phase1_done.json"
    if done.is_file() and checkpoint.is_file():
        print(f"phase 1: reusing {checkpoint}", flush=True)
    else:  # a phase 1 that did not finish is run again from scratch, and its start scores with it
        for stale in checkpoint.parent.glob("start_scores_*.json"):
            stale.unlink()
        _fit(plan, phase1, tasks=plan.old, steps=plan.phase1_steps, sampler="round_robin", sampler_options={},
             task_options={t: plan.task_options.get(t, {}) for t in plan.old}, lr=plan.lr,
             warmup=min(100, plan.phase1_steps), val_every=plan.val_every, ema_decay=None)
        done.write_text(json.dumps(asdict(plan)) + "\n")
    phase1_curves = read_curves(phase1)
    chance, start = chance_scores(plan), start_scores(plan, checkpoint)
    per_seed, images = {}, []
    for seed in seeds:
        seed_plan = replace(plan, phase2_seed=seed)
        curves = {"phase1": phase1_curves}
        settings = {}
        for arm in args.arms:
            curves[arm], settings[arm] = _run_arm(seed_plan, arm, runs, checkpoint, adaptive_options, args.fresh)
        per_seed[seed] = summarise(seed_plan, curves, args.arms, chance, start)
        per_seed[seed]["settings"] = settings
        images.append(chart(per_seed[seed], curves, args.arms))
    report = combine(plan, per_seed)
    report.update(command=args.command_line, date=time.strftime("%Y-%m-%d"), commit=_commit(),
                  minutes=(time.time() - started) / 60)
    (out / "forgetting.json").write_text(json.dumps(report, indent=1) + "\n")
    stack(images).save(out / "forgetting.png")
    print_table(report)
    print(f"wrote {out / 'forgetting.json'} and {out / 'forgetting.png'}")
    return 0


def _run_arm(plan: Plan, arm: str, runs: Path, checkpoint: Path, adaptive_options: dict,
             fresh: bool) -> tuple[dict, dict]:
    """Phase 2 of one arm at `plan.phase2_seed` (reused where it finished before): its curves and setting."""
    tasks = plan.old + plan.new
    weights = {**{t: plan.old_share / len(plan.old) for t in plan.old},
               **{t: (1 - plan.old_share) / len(plan.new) for t in plan.new}}
    options = {t: dict(plan.task_options.get(t, {})) for t in tasks}
    for t in plan.old:
        if plan.old_val_batches != plan.val_batches:  # equal: the setting (and key) of runs made before the option
            options[t]["val_batches"] = plan.old_val_batches
        if arm == "lr_scale":
            options[t]["lr_scale"] = plan.old_lr_scale
    sampler = "adaptive" if arm == "adaptive" else "static"
    sampler_options = _resolved(sampler, {"weights": weights, **(adaptive_options if arm == "adaptive" else {})})
    setting = {"phase1": plan.phase1_key(), "steps": plan.phase2_steps, "val_every": plan.phase2_val_every,
               "lr": plan.phase2_lr, "warmup": plan.phase2_warmup, "val_batches": plan.val_batches,
               "batch": plan.batch_size, "sampler": sampler, "sampler_options": sampler_options,
               "task_options": options,
               **({"seed": plan.phase2_seed} if plan.phase2_seed else {}),  # seed 0: the keys of older runs
               **({"ema_decay": plan.ema_decay} if plan.ema_decay is not None else {})}
    key = hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:10]
    folder = runs / f"phase2_{arm}_{key}"
    arm_done = folder / "arm_done.json"
    if arm_done.is_file() and not fresh:  # the same arm with the same setting ran to its end before
        print(f"{folder.name}: reusing (seed {plan.phase2_seed})", flush=True)
    else:
        print(f"seed {plan.phase2_seed}, arm {arm}:", flush=True)
        _fit(plan, folder, tasks=tasks, steps=plan.phase2_steps, sampler=sampler,
             sampler_options=sampler_options, task_options=options, lr=plan.phase2_lr,
             warmup=min(plan.phase2_warmup, plan.phase2_steps), val_every=plan.phase2_val_every,
             init_from=checkpoint, seed=plan.phase2_seed, ema_decay=plan.ema_decay)
        arm_done.write_text(json.dumps(setting) + "\n")
    return read_curves(folder), setting


def _decay(text: str) -> float | None:
    """`--ema-decay`'s value: a number, or none."""
    if text.lower() in ("none", "null"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1) such as 0.99, or none; got {text!r}") from None


def _resolved(sampler: str, options: dict) -> dict:
    """`options` with the sampler's other options at their defaults (what the run will use)."""
    import inspect

    from lit_modules.sampler import TaskSampler

    parameters = list(inspect.signature(TaskSampler.registry[sampler]).parameters.values())[1:]
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    return {**defaults, **options}


def chance_scores(plan: Plan) -> dict[str, float]:
    """Each task of B's `chance_exact_acc` on the validation batches the arms score it on (none for
    a task whose answers are not classes); only B's finals are compared with chance."""
    from datamodules import registry

    out = {}
    for task in plan.new:
        module = registry.get(task)(**plan.task_options.get(task, {}), val_batches=plan.val_batches, batch_size=plan.batch_size,
                                    image_size=64)
        chance = module.baselines().get("chance_exact_acc")
        if chance is not None:
            out[task] = chance
    return out


def _check(plan: Plan) -> None:
    from datamodules import registry

    for name in plan.old + plan.new:
        if name not in registry.names():
            raise ValueError(f"--old/--new: unknown task {name}; registered: {', '.join(registry.names())}")
    if set(plan.old) & set(plan.new):
        raise ValueError(f"--old and --new share {sorted(set(plan.old) & set(plan.new))}; a task is old or new")
    for name in ("phase1_steps", "phase2_steps", "val_every", "phase2_val_every", "val_batches", "old_val_batches",
                 "batch_size"):
        if getattr(plan, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(plan, name)}")
    if plan.phase2_seed < 0:
        raise ValueError(f"--phase2-seed: expected an integer >= 0, got {plan.phase2_seed}")
    if plan.phase2_warmup < 0:
        raise ValueError(f"--phase2-warmup: expected an integer >= 0, got {plan.phase2_warmup}")
    if not (math.isfinite(plan.phase2_lr) and plan.phase2_lr > 0):
        raise ValueError(f"--phase2-lr: expected a positive number, got {plan.phase2_lr}")
    if plan.ema_decay is not None and not 0 < plan.ema_decay < 1:
        raise ValueError(f"--ema-decay: expected a number in (0, 1) such as 0.99, got {plan.ema_decay}")
    if not 0 < plan.old_share < 1:
        raise ValueError(f"--old-share: expected a number in (0, 1), got {plan.old_share}")


def _fit(plan: Plan, folder: Path, *, tasks, steps, sampler, sampler_options, task_options, lr, warmup, val_every,
         init_from=None, seed=0, ema_decay: float | None) -> None:
    """One `python -m penguin.fit` run into `folder` (replacing an earlier run there)."""
    config = {
        "restart": True,
        "seed_everything": plan.seed + seed,
        "model": {"preset": plan.preset, "weighting": "static", "lr": lr, "warmup_steps": warmup,
                  "foreground_weight": 4.0, "edit_weight": 30.0,
                  **({"init_from": str(init_from)} if init_from else {}),
                  "ema_decay": ema_decay},
        "data": {"tasks": list(tasks), "task_options": task_options, "batch_size": plan.batch_size, "seed": seed,
                 "image_size": 64, "val_batches": plan.val_batches, "sampler": sampler,
                 "sampler_options": sampler_options},
        "trainer": {"accelerator": "cpu", "precision": "32-true", "max_steps": steps,
                    "val_check_interval": val_every, "enable_progress_bar": False},
    }
    print(f"{folder.name}: {steps} steps over {', '.join(tasks)} ({sampler})", flush=True)
    run_fit(config, folder)


SCORES = (("exact_acc", lambda v: v), ("edit_ratio", lambda v: 1 - v))  # a task's score from its metric


def score_curve(curves: dict, task: str) -> list[tuple[int, float]]:
    """A task's validation score against the step (see the module docstring), or []."""
    for metric, score in SCORES:
        if f"val/{task}/{metric}" in curves:
            return [(s, score(v)) for s, v in curves[f"val/{task}/{metric}"]]
    return []


def start_scores(plan: Plan, checkpoint: Path) -> dict[str, float]:
    """Each scored task of A at phase 2's start: phase 1's last weights (what every arm warm-starts
    from) on phase 2's validation of A (`old_val_batches`); computed once, beside the checkpoint."""
    cache = checkpoint.parent / f"start_scores_{plan.old_val_batches}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    from penguin.evaluate import evaluate

    table = evaluate(checkpoint, tasks=list(plan.old), val_batches=plan.old_val_batches, batch_size=plan.batch_size)
    scores = {}
    for task in plan.old:
        metric, score = next(((m, f) for m, f in SCORES if m in table.get(task, {})), (None, None))
        if metric is not None:
            scores[task] = score(table[task][metric])
    cache.write_text(json.dumps(scores) + "\n")
    return scores


def sustained_low(points: list[tuple[int, float]]) -> float | None:
    """The lowest median of three validations in a row (the lowest score while there are fewer)."""
    scores = [v for _, v in points]
    if len(scores) < 3:
        return min(scores) if scores else None
    return min(sorted(scores[i:i + 3])[1] for i in range(len(scores) - 2))


def boosted_steps(curves: dict, task: str, last_step: int) -> int:
    """Training steps between validations at which the sampler's boost of `task` was at least
    `BOOSTED` (a boost decays towards 1 geometrically and never quite reaches it)."""
    points = curves.get(f"sampler/{task}/boost", [])
    total = 0
    for (step, boost), (nxt, _) in zip(points, points[1:] + [(last_step, 1.0)]):
        if boost >= BOOSTED:
            total += max(0, nxt - step)
    return total


def summarise(plan: Plan, curves: dict, arms, chance: dict[str, float], start: dict[str, float]) -> dict:
    phase1 = curves["phase1"]
    old = {}
    for task in plan.old:
        scores = [v for _, v in score_curve(phase1, task)]
        old[task] = {"phase1_best": max(scores) if scores else None,
                     "phase1_final": scores[-1] if scores else None, "start": start.get(task)}
    mastered = {t: e["phase1_best"] is not None and e["phase1_best"] >= MASTERY
                for t, e in old.items() if f"val/{t}/exact_acc" in phase1}
    result = {"plan": asdict(plan), "old": old, "phase1_mastered": mastered, "arms": {}}
    for arm in arms:
        arm_curves = curves[arm]
        entry = {"old": {}, "new": {}}
        for task in plan.old:
            points = score_curve(arm_curves, task)
            best, begun = old[task]["phase1_best"], old[task]["start"]
            low_step, low = min(points, key=lambda p: p[1]) if points else (None, None)
            final = points[-1][1] if points else None
            sustained = sustained_low(points)
            entry["old"][task] = {"lowest": low, "low_step": low_step, "sustained_low": sustained, "final": final,
                                  "dip": _less(begun, low), "sustained_dip": _less(begun, sustained),
                                  "dip_from_best": _less(best, low), "final_drop": _less(best, final),
                                  "boosted_steps": boosted_steps(arm_curves, task, plan.phase2_steps)}
        for task in plan.new:
            scores = score_curve(arm_curves, task)
            loss = arm_curves.get(f"val/{task}/loss", [])
            entry["new"][task] = {"final": scores[-1][1] if scores else None,
                                  "final_loss": loss[-1][1] if loss else None, "chance": chance.get(task)}
        entry["shares"] = {t: arm_curves.get(f"sampler/{t}/share", []) for t in plan.old + plan.new}
        result["arms"][arm] = entry
    result["targets"] = targets(result, plan)
    return result


def _less(reference: float | None, score: float | None) -> float | None:
    """How far `score` is below `reference` (None where either is missing)."""
    return None if reference is None or score is None else reference - score


def targets(result: dict, plan: Plan) -> dict:
    """Per arm other than `static`: whether it meets the module docstring's three targets."""
    arms, out = result["arms"], {}
    static = arms.get("static")
    for arm, entry in arms.items():
        if arm == "static" or static is None:
            continue
        finals = [e["final_drop"] for e in entry["old"].values()]
        dips = [(e["dip"], static["old"][t]["dip"]) for t, e in entry["old"].items()]
        compared = [t for t, e in entry["new"].items() if e["final"] is not None and _learned(static["new"][t])]
        ratios = [(entry["new"][t]["final"], static["new"][t]["final"]) for t in compared]
        out[arm] = {
            "old_final_within": all(f is not None and f <= TARGET_FINAL_DROP for f in finals),
            "old_dip_at_most_half_of_static": all(d is not None and s is not None and d <= max(0.0, s) / 2
                                                  for d, s in dips),
            "new_at_least_ratio_of_static": all(f is None or s is None or f >= TARGET_B_RATIO * s for f, s in ratios),
            "new_compared": compared,
            "static_forgot": any(s["dip"] is not None and s["dip"] > TARGET_FINAL_DROP for s in static["old"].values()),
        }
    return out


def _learned(static_new: dict) -> bool:
    """Whether `static` learned a B task: its final score is more than `LEARNED_MARGIN` above
    chance (a scored task without a chance level, such as the arrow, always counts)."""
    final, chance = static_new["final"], static_new.get("chance")
    return final is not None and (chance is None or final > chance + LEARNED_MARGIN)


TARGETS = ("old_final_within", "old_dip_at_most_half_of_static", "new_at_least_ratio_of_static")


def combine(plan: Plan, per_seed: dict[int, dict]) -> dict:
    """The report of every phase-2 seed: phase 1 once, each seed's arms and targets, and per arm
    the seeds on which each target is met (`seeds_meeting`) and whether all are met on every seed."""
    first = next(iter(per_seed.values()))
    plan_fields = {k: v for k, v in asdict(plan).items() if k != "phase2_seed"}
    report = {"plan": {**plan_fields, "phase2_seeds": list(per_seed)}, "old": first["old"],
              "phase1_mastered": first["phase1_mastered"],
              "seeds": {str(seed): {k: r[k] for k in ("arms", "targets", "settings")} for seed, r in per_seed.items()}}
    summary = {}
    for arm in first["targets"]:
        meeting = {t: [seed for seed, r in per_seed.items() if r["targets"][arm][t]] for t in TARGETS}
        summary[arm] = {"seeds_meeting": meeting,
                        "all_targets_every_seed": all(len(m) == len(per_seed) for m in meeting.values())}
    report["summary"] = summary
    return report


def print_table(report: dict) -> None:
    old = report["old"]
    missed = [t for t, ok in report["phase1_mastered"].items() if not ok]
    if missed:
        print(f"phase 1 did not bring {', '.join(missed)} to {MASTERY:.2f}: give it more --phase1-steps; "
              "the arms' dips are measured from a skill that was not mastered")
    print(f"\n{'seed':<6}{'arm':<10}{'task':<22}{'phase-1 best':>13}{'start':>7}{'lowest':>9}{'at step':>9}"
          f"{'sustained':>10}{'final':>8}{'boosted':>9}")
    for seed, entry_of_seed in report["seeds"].items():
        for arm, entry in entry_of_seed["arms"].items():
            for task, e in entry["old"].items():
                print(f"{seed:<6}{arm:<10}{task:<22}{_num(old[task]['phase1_best']):>13}"
                      f"{_num(old[task].get('start')):>7}{_num(e['lowest']):>9}"
                      f"{'—' if e['low_step'] is None else e['low_step']:>9}{_num(e.get('sustained_low')):>10}"
                      f"{_num(e['final']):>8}{e['boosted_steps']:>9}")
            for task, e in entry["new"].items():
                chance = "" if e.get("chance") is None else f"   chance {e['chance']:.3f}"
                print(f"{seed:<6}{arm:<10}{task + ' (new)':<22}{'':>13}{'':>7}{'':>9}{'':>9}{'':>10}"
                      f"{_num(e['final']):>8}{chance}")
        for arm, t in entry_of_seed["targets"].items():
            print(f"seed {seed}, {arm}: " + ", ".join(f"{k}={v}" for k, v in t.items()))
    n = len(report["seeds"])
    for arm, s in report["summary"].items():
        print(f"{arm} over {n} seed(s): " + ", ".join(f"{k} on {len(v)}/{n}" for k, v in s["seeds_meeting"].items()))


def _num(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent)
    return done.stdout.strip() or None if done.returncode == 0 else None


# ---------------------------------------------------------------------------- the PNG
_W, _H, _SHARE_H, _M = 420, 220, 90, 30


def chart(report: dict, curves: dict, arms) -> Image.Image:
    """One panel per arm: scores (0–1) against the step, A solid and thick, B thin; shares under it."""
    plan = report["plan"]
    tasks = list(plan["old"]) + list(plan["new"])
    colour = {t: COLOURS[i % len(COLOURS)] for i, t in enumerate(tasks)}
    legend_h = 14 * len(tasks) + 10
    image = Image.new("RGB", (len(arms) * (_W + _M) + _M, _H + _SHARE_H + 3 * _M + legend_h), "white")
    draw = ImageDraw.Draw(image)
    steps = max(1, plan["phase2_steps"])
    for a, arm in enumerate(arms):
        x0 = _M + a * (_W + _M)
        draw.text((x0, 6), f"seed {plan['phase2_seed']}, {arm}: validation score", fill="black")
        frame(draw, x0, _M, _W, _H, steps)
        for t in tasks:
            points = score_curve(curves[arm], t)
            polyline(draw, x0, _M, _W, _H, points, steps, colour[t], 3 if t in plan["old"] else 1)
        y_share = _M + _H + _M
        shares = {t: curves[arm].get(f"sampler/{t}/share", []) for t in tasks}
        top = max([v for points in shares.values() for _, v in points] + [0.1])
        top = math.ceil(top * 10) / 10  # the share axis runs from 0 to the next tenth above the largest
        draw.text((x0, y_share - 14), f"sampler shares (0 to {top:.1f})", fill="black")
        frame(draw, x0, y_share, _W, _SHARE_H, steps, top=f"{top:.1f}")
        for t in tasks:
            polyline(draw, x0, y_share, _W, _SHARE_H, [(s, v / top) for s, v in shares[t]], steps,
                      colour[t], 2 if t in plan["old"] else 1)
    y = _M + _H + _SHARE_H + 2 * _M
    for i, t in enumerate(tasks):
        draw.line((_M, y + 14 * i + 6, _M + 20, y + 14 * i + 6), fill=colour[t], width=3 if t in plan["old"] else 1)
        draw.text((_M + 26, y + 14 * i), t + (" (old)" if t in plan["old"] else " (new)"), fill="black")
    return image


def stack(images: list[Image.Image]) -> Image.Image:
    """`images` (one per seed) one under the other."""
    out = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    y = 0
    for image in images:
        out.paste(image, (0, y))
        y += image.height
    return out
