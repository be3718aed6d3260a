"""Where does a checkpoint lose its `control` reconstruction? `control`'s MSE split by view, with
the scores of two brain-free references that lose known detail.

    python bench/control_views.py --ckpt runs/core_cpu/checkpoints/last.ckpt
    python bench/control_views.py --ckpt CKPT --batches 16 --out bench/core_cpu/control_views.json

`control` (`datamodules/control.py`) reconstructs its input: a whole room (half the views, with or
without a jitter) or a zoom of factor 2–21 (`penguin/game/control.py`). Its validation MSE is one
number; this splits it over the views' zoom factor (`room`, `zoom 2-5`, `zoom 5-10`,
`zoom 10-21`), and within each split over foreground pixels (the loss's own
`lit_modules/terms.py::foreground`: walls, gold, agent, line) and background ones. Per split:
the samples, the MSE, its share of the total squared error, the foreground's share of the pixels,
the MSE on each kind of pixel, and the MSE of two references computed from the target alone:

- `half_resolution`: the target averaged over 2×2 pixels and scaled back up (bilinear), the score
  of a decoder that keeps everything above half the resolution;
- `flat_patches`: each `patch_size` patch replaced by its mean colour, the score of a decoder that
  draws one colour per patch token.

A brain scoring near `half_resolution` on a split draws it at about half the resolution; near
`flat_patches`, one colour per token. The overall MSE is `penguin.evaluate`'s `control` MSE on the
same validation batches (the checkpoint's averaged weights where it holds them,
`penguin.evaluate.load_checkpoint`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checkpoint_cli import add_arguments, load_module  # noqa: E402
from datamodules import registry  # noqa: E402
from lit_modules.terms import foreground  # noqa: E402
from penguin.evaluate import load_checkpoint  # noqa: E402

# (name, lowest factor, highest factor), both ends included; factor 1 is the whole room
SPLITS = (("room", 1.0, 1.0), ("zoom 2-5", 2.0, 5.0), ("zoom 5-10", 5.0, 10.0), ("zoom 10-21", 10.0, 21.0))
REFERENCES = ("half_resolution", "flat_patches")


def split_of(factor: torch.Tensor) -> torch.Tensor:
    """`[B]` index into `SPLITS` of each view's zoom factor (a factor on a boundary goes to the
    lower split)."""
    index = torch.full(factor.shape, -1, dtype=torch.long)
    for i, (_, low, high) in reversed(list(enumerate(SPLITS))):
        index = torch.where((factor >= low) & (factor <= high), torch.full_like(index, i), index)
    if (index < 0).any():
        raise ValueError(f"zoom factors outside every split: {factor[index < 0].tolist()}")
    return index


def half_resolution(target: torch.Tensor) -> torch.Tensor:
    """`target` `[B, 3, S, S]` averaged over 2×2 pixels and scaled back up (bilinear)."""
    return F.interpolate(F.avg_pool2d(target, 2), scale_factor=2, mode="bilinear", align_corners=False)


def flat_patches(target: torch.Tensor, patch_size: int) -> torch.Tensor:
    """`target` `[B, 3, S, S]` with each `patch_size` patch replaced by its mean colour."""
    return F.interpolate(F.avg_pool2d(target, patch_size), scale_factor=patch_size, mode="nearest")


def per_sample(prediction: torch.Tensor, target: torch.Tensor, patch_size: int) -> dict[str, torch.Tensor]:
    """Per sample `[B]`: squared-error sums over foreground and background pixels, their pixel
    counts, and the references' squared-error sums (every sum over pixels and channels, as MSE)."""
    squared = (prediction.float() - target.float()).pow(2).sum(1)  # [B, S, S]
    drawn = foreground(target)
    stats = {"foreground_sq": (squared * drawn).flatten(1).sum(1),
             "background_sq": (squared * ~drawn).flatten(1).sum(1),
             "foreground_pixels": drawn.flatten(1).sum(1).float(),
             "pixels": torch.full((len(target),), float(target[0, 0].numel()))}
    for name, reference in (("half_resolution", half_resolution(target)),
                            ("flat_patches", flat_patches(target, patch_size))):
        stats[name + "_sq"] = (reference - target.float()).pow(2).flatten(1).sum(1)
    return stats


def summarise(stats: dict[str, torch.Tensor], split: torch.Tensor) -> dict:
    """The overall MSE and, per split of `SPLITS`, the numbers the module docstring lists."""
    channels = 3
    total_sq = stats["foreground_sq"] + stats["background_sq"]
    result = {"mse": float(total_sq.sum() / (channels * stats["pixels"].sum())), "samples": len(split), "splits": {}}
    for i, (name, _, _) in enumerate(SPLITS):
        m = split == i
        if not m.any():
            continue
        pixels = stats["pixels"][m].sum()
        fg = stats["foreground_pixels"][m].sum()
        row = {"samples": int(m.sum()),
               "mse": float(total_sq[m].sum() / (channels * pixels)),
               "share_of_error": float(total_sq[m].sum() / total_sq.sum()),
               "foreground_fraction": float(fg / pixels),
               "mse_foreground": float(stats["foreground_sq"][m].sum() / (channels * fg)) if fg > 0 else None,
               "mse_background": float(stats["background_sq"][m].sum() / (channels * (pixels - fg)))
               if pixels > fg else None}
        for reference in REFERENCES:
            row[reference] = float(stats[reference + "_sq"][m].sum() / (channels * pixels))
        result["splits"][name] = row
    return result


def measure(module, batches: int, batch_size: int = 32) -> dict:
    """`control`'s first `batches` validation batches through `module` (anything with `run(episode)`
    and `brain.config`), summarised by `summarise`."""
    config = module.brain.config
    data = registry.get("control")(val_batches=batches, batch_size=batch_size, image_size=config.image_size)
    parts: dict[str, list[torch.Tensor]] = {}
    splits = []
    for b in range(batches):
        spec = data.val_batch(b)
        episode = spec.render(data.image_size)
        with torch.no_grad():
            prediction = module.run(episode).outputs[0].image
        for key, value in per_sample(prediction, episode.steps[0].image_target, config.patch_size).items():
            parts.setdefault(key, []).append(value)
        splits.append(split_of(spec.steps[0].input.zoom_factor))
    return summarise({k: torch.cat(v) for k, v in parts.items()}, torch.cat(splits))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, "a checkpoint of a run that trained control")
    args = parser.parse_args(argv)
    module = load_module(parser, args, "control", load_checkpoint)
    result = measure(module, args.batches)
    print(f"control MSE {result['mse']:.5f} over {result['samples']} views")
    print(f"{'split':11s} {'views':>5s} {'MSE':>8s} {'share':>6s} {'fg px':>6s} {'MSE fg':>8s} {'MSE bg':>8s} "
          f"{'half-res':>8s} {'flat':>8s}")
    for name, r in result["splits"].items():
        fg = f"{r['mse_foreground']:8.5f}" if r["mse_foreground"] is not None else f"{'-':>8s}"
        bg = f"{r['mse_background']:8.5f}" if r["mse_background"] is not None else f"{'-':>8s}"
        print(f"{name:11s} {r['samples']:5d} {r['mse']:8.5f} {r['share_of_error']:6.3f} {r['foreground_fraction']:6.3f} "
              f"{fg} {bg} {r['half_resolution']:8.5f} {r['flat_patches']:8.5f}")
    if args.out:
        args.out.write_text(json.dumps({"ckpt": str(args.ckpt), **result}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
