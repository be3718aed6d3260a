"""`configs/ddp.yaml` on the CPU: two ranks (gloo) train a task mix end to end. The validation
batches are split across the ranks, so one rank may hold no update of a metric that the other
has; the module must still compute every metric on every rank (each is a collective) or the
ranks wait on each other for ever. Run as a subprocess with a timeout, since a deadlock hangs."""
import sys
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from process_group import run_group

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["side_qa", "near_gold_qa", "arrow"]


def test_two_cpu_ranks_train_validate_and_checkpoint(tmp_path):
    command = [sys.executable, "-m", "penguin.fit", "--config", str(ROOT / "configs" / "ddp.yaml"),
               "--name", "ddp", "--data.tasks", f"[{', '.join(TASKS)}]", "--data.batch_size", "4",
               "--data.val_batches", "1", "--model.preset", "tiny64", "--model.warmup_steps", "2",
               "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.precision", "32-true",
               "--trainer.max_steps", "8", "--trainer.val_check_interval", "4", "--trainer.log_every_n_steps", "1",
               "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path)]
    # 3 tasks x 1 validation batch over 2 ranks: rank 0 validates side_qa and arrow, rank 1 near_gold_qa.
    result = run_group(command, cwd=tmp_path, timeout=240,
                       hang="two DDP ranks did not finish 8 steps in 240 s: a collective is not matched")
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = set()
    for events in (tmp_path / "ddp").glob("version_*/events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        scalars |= set(acc.Tags()["scalars"])
    for task in TASKS:  # rank 0 logs every task's metrics, also those rank 1 validated
        assert f"val/{task}/loss" in scalars and f"sampler/{task}/share" in scalars, task
    assert {"val/near_gold_qa/exact_acc", "val/near_gold_qa/near_gold/exact_acc",
            "val/arrow/edit_ratio", "val/arrow/draw_line_to_gold/mse"} <= scalars
    assert (tmp_path / "ddp" / "checkpoints" / "last.ckpt").is_file()
    state = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    averaged = {k: v for k, v in state["state_dict"].items() if k.startswith("averaged.brain.")}
    assert averaged and all(torch.isfinite(v).all() for v in averaged.values() if isinstance(v, torch.Tensor))
