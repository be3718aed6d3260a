"""Best checkpoints: the selection rule on scripted losses (`callbacks/best_checkpoint.py`), and
`LastCheckpoint` in a real `Trainer` — the files on disk, `best.json`, resume, `resolve_checkpoint`."""
import json
import math
import os
from datetime import timedelta
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from callbacks.best_checkpoint import BestSelection, read_manifest, resolve_checkpoint, write_manifest
from callbacks.last_checkpoint import LastCheckpoint


def _observe(selection: BestSelection, script: dict[int, dict[str, float]]) -> dict[int, list[str]]:
    return {step: selection.observe(step, f"step{step}.ckpt", losses) for step, losses in script.items()}


def _holders(selection: BestSelection) -> dict[str, str]:
    held = {task: best.file for task, best in selection.tasks.items()}
    return {**held, "overall": selection.overall.file if selection.overall else None}


# ---------------------------------------------------------------------------- the rule

def test_each_task_keeps_its_lowest_loss_and_says_why():
    selection = BestSelection()
    won = _observe(selection, {100: {"a": 1.0, "b": 2.0}, 200: {"a": 0.8, "b": 2.0}, 300: {"a": 0.9, "b": 1.5}})
    assert won == {100: ["a", "b", "overall"], 200: ["a", "overall"], 300: ["b"]}
    assert _holders(selection) == {"a": "step200.ckpt", "b": "step300.ckpt", "overall": "step200.ckpt"}
    assert selection.tasks["a"].reason == "lowest val/a/loss 0.8 (previous best 1 at step 100)"
    assert selection.tasks["b"].metrics == {"a": 0.9, "b": 1.5}  # every task's loss at that step
    # A tie keeps the older file: b's 2.0 at step 200 did not displace step 100, nor do these ties
    # displace steps 200 and 300 (step 400 still becomes overall best: 1.0 against 200's 1.167).
    assert selection.observe(400, "step400.ckpt", {"a": 0.8, "b": 1.5}) == ["overall"]
    assert _holders(selection) == {"a": "step200.ckpt", "b": "step300.ckpt", "overall": "step400.ckpt"}


def test_a_step_better_on_aggregate_but_20_percent_worse_on_one_task_is_not_overall_best():
    selection = BestSelection(tolerance=0.1)
    _observe(selection, {100: {"a": 1.0, "b": 1.0, "c": 1.0}, 200: {"a": 0.5, "b": 1.0, "c": 1.0}})
    assert selection.overall.step == 200
    # Step 300: a is 20 % above its best 0.5, b and c halve. Aggregate (1.2 + 1 + 1) / 3 = 1.067
    # beats step 200's re-scored (1 + 2 + 2) / 3 = 1.667, but the tolerance vetoes it.
    assert selection.observe(300, "step300.ckpt", {"a": 0.6, "b": 0.5, "c": 0.5}) == ["b", "c"]
    assert selection.overall.step == 200
    assert selection.latest["verdict"] == ("best for b, c; not overall best: val/a/loss 0.6 is 20% above its best 0.5 "
                                           "at step 200 (tolerance 10%)")
    # With a tolerance of 25 % the same history makes step 300 the overall best.
    loose = BestSelection(tolerance=0.25)
    _observe(loose, {100: {"a": 1.0, "b": 1.0, "c": 1.0}, 200: {"a": 0.5, "b": 1.0, "c": 1.0},
                     300: {"a": 0.6, "b": 0.5, "c": 0.5}})
    assert loose.overall.step == 300 and math.isclose(loose.overall_aggregate, 3.2 / 3)


def test_the_incumbent_is_re_scored_against_todays_bests():
    selection = BestSelection()
    _observe(selection, {100: {"a": 1.0, "b": 1.0}})
    assert selection.overall_aggregate == 1.0
    # Step 200's aggregate (1 + 1.08) / 2 = 1.04 is above the 1.0 step 100 had when it was chosen,
    # but step 100 measured against a's new best 0.5 scores (2 + 1) / 2 = 1.5.
    assert selection.observe(200, "step200.ckpt", {"a": 0.5, "b": 1.08}) == ["a", "overall"]
    assert selection.overall.reason == ("aggregate 1.04 below 1.5 of step 100 "
                                        "(mean loss/best over 2 tasks, each within 10% of its best)")


def test_the_newest_file_can_be_best_for_nothing():
    selection = BestSelection()
    _observe(selection, {100: {"a": 1.0, "b": 1.0}, 200: {"a": 0.8, "b": 1.05}})
    assert selection.observe(300, "step300.ckpt", {"a": 0.85, "b": 1.02}) == []
    assert selection.files() == {"step100.ckpt", "step200.ckpt"}
    assert selection.latest == {"step": 300, "file": "step300.ckpt",
                                "verdict": "best for nothing; not overall best: aggregate 1.041 not below 1.025 of step 200"}


def test_non_finite_losses_are_never_best():
    selection = BestSelection()
    assert selection.observe(100, "step100.ckpt", {"a": float("nan"), "b": float("inf")}) == []
    assert selection.files() == set() and selection.overall is None
    assert selection.latest["verdict"] == "best for nothing; not overall best: val/a/loss is nan, val/b/loss is inf"
    # A NaN on one task leaves the others' bests possible, but never the overall title.
    assert selection.observe(200, "step200.ckpt", {"a": float("nan"), "b": 1.0}) == ["b"]
    assert selection.overall is None and "a" not in selection.tasks
    assert selection.observe(300, "step300.ckpt", {"a": 2.0, "b": 1.05}) == ["a", "overall"]
    assert selection.manifest()["tasks"]["b"]["metrics"] == {"val/a/loss": None, "val/b/loss": 1.0}


def test_a_task_that_appears_later_makes_the_first_step_within_tolerance_overall_best():
    selection = BestSelection()
    _observe(selection, {100: {"a": 1.0}, 200: {"a": 0.9}})
    # The incumbent (step 200) was never validated on b, so it cannot be compared on it.
    assert selection.observe(300, "step300.ckpt", {"a": 0.95, "b": 3.0}) == ["b", "overall"]
    assert selection.overall.reason.endswith("the previous best, step 200, was never validated on b")
    # Without b (dropped from the mixture) the decision is on a alone.
    assert selection.observe(400, "step400.ckpt", {"a": 0.96}) == []
    assert selection.latest["verdict"].endswith("aggregate 1.067 not below 1.056 of step 300")


def test_state_dict_round_trip_continues_the_same_decisions():
    script = {100: {"a": 1.0, "b": 1.0}, 200: {"a": 0.8, "b": 1.05}, 300: {"a": 0.85, "b": 1.02},
              400: {"a": 0.9, "b": 0.9}, 500: {"a": 0.7, "b": float("nan")}}
    straight = BestSelection()
    _observe(straight, script)
    first = BestSelection()
    _observe(first, {s: script[s] for s in (100, 200, 300)})
    resumed = BestSelection()
    resumed.load_state_dict(first.state_dict())
    assert resumed.manifest() == first.manifest()
    _observe(resumed, {s: script[s] for s in (400, 500)})
    assert resumed.manifest() == straight.manifest()
    assert _holders(resumed) == {"a": "step500.ckpt", "b": "step400.ckpt", "overall": "step200.ckpt"}


def test_bad_input_is_one_line():
    with pytest.raises(ValueError, match=r"^val/a/loss is -0.5 at step 100: .*needs losses >= 0$"):
        BestSelection().observe(100, "step100.ckpt", {"a": -0.5})
    with pytest.raises(ValueError, match=r"^best-checkpoint tolerance -0.1: must be a finite number >= 0"):
        BestSelection(tolerance=-0.1)


# ---------------------------------------------------------------------------- manifest and resolver

def test_the_manifest_is_written_whole_with_no_temp_file_left(tmp_path):
    selection = BestSelection()
    _observe(selection, {100: {"a": 1.0, "b": float("nan")}})
    write_manifest(tmp_path, {"old": True})
    path = write_manifest(tmp_path, selection.manifest())
    assert sorted(os.listdir(tmp_path)) == ["best.json"]
    assert json.loads(path.read_text()) == read_manifest(path) == {
        "tolerance": 0.1, "overall": None,
        "tasks": {"a": {"file": "step100.ckpt", "step": 100, "loss": 1.0,
                        "metrics": {"val/a/loss": 1.0, "val/b/loss": None}, "reason": "first val/a/loss 1"}},
        "latest": {"step": 100, "file": "step100.ckpt",
                   "verdict": "best for a; not overall best: val/b/loss is nan"}}


def test_resolve_checkpoint_and_its_one_line_errors(tmp_path):
    run, folder = tmp_path / "run", tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    with pytest.raises(ValueError, match=r"^best: no best.json in .*checkpoints; .* has not validated yet"):
        resolve_checkpoint("best", folder)
    selection = BestSelection()
    _observe(selection, {100: {"a": float("nan"), "b": 1.0}})
    write_manifest(folder, selection.manifest())
    (folder / "step100.ckpt").write_bytes(b"weights")
    assert resolve_checkpoint("best:b", folder) == folder / "step100.ckpt"
    assert resolve_checkpoint("best:b", run) == folder / "step100.ckpt"  # the run folder works too
    assert resolve_checkpoint("elsewhere/x.ckpt", folder) == Path("elsewhere/x.ckpt")
    errors = {"best": "names no overall best yet", "best:c": "no task 'c' in", "best:a": "no task 'a' in"}
    for spec, message in errors.items():
        with pytest.raises(ValueError) as e:
            resolve_checkpoint(spec, folder)
        assert message in str(e.value) and "\n" not in str(e.value)
    assert str(pytest.raises(ValueError, resolve_checkpoint, "best:c", folder).value).endswith("known tasks: b")
    _observe(selection, {200: {"a": 1.0, "b": 1.0}})
    write_manifest(folder, selection.manifest())
    with pytest.raises(ValueError, match=r"^best: .*step200.ckpt \(named by .*best.json\) is missing$"):
        resolve_checkpoint("best", folder)
    (folder / "best.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"best.json: not a readable best-checkpoint manifest \(JSONDecodeError"):
        resolve_checkpoint("best:b", folder)


# ---------------------------------------------------------------------------- in a Trainer

# Validation every 3 steps. Step 9 is best for nothing (deleted at step 12); step 12 is better on
# aggregate but a is 12.5 % above its best (not overall); task c appears at 12 and is NaN at 15.
SCRIPT = {3: {"a": 1.0, "b": 1.0}, 6: {"a": 0.8, "b": 1.05}, 9: {"a": 0.85, "b": 1.02},
          12: {"a": 0.9, "b": 0.9, "c": 2.0}, 15: {"a": 0.78, "b": 0.95, "c": float("nan")}}


class Scripted(L.LightningModule):
    """Logs SCRIPT's `val/<task>/loss` at each validation; notes the checkpoint folder at each step."""

    def __init__(self, folder: Path, train_batches: int = 64):
        super().__init__()
        self.train_batches = train_batches
        self.layer = torch.nn.Linear(1, 1)
        self.folder = folder
        self.listings: dict[int, list[str]] = {}

    def training_step(self, batch, batch_idx):
        return self.layer(batch).square().mean()

    def on_train_batch_start(self, batch, batch_idx):
        if self.folder.is_dir():  # after the previous validation's saves, before this step
            self.listings[self.global_step] = sorted(os.listdir(self.folder))

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        for task, loss in SCRIPT[self.global_step].items():
            self.log(f"val/{task}/loss", loss)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(torch.ones(self.train_batches, 1), batch_size=1)

    def val_dataloader(self):
        return DataLoader(torch.ones(1, 1), batch_size=1)


def _fit(folder: Path, max_steps: int, ckpt_path: str | None = None) -> tuple[Scripted, LastCheckpoint]:
    module = Scripted(folder)
    checkpoint = LastCheckpoint(dirpath=folder, filename="step{step}", auto_insert_metric_name=False,
                                save_last=True, save_top_k=1)  # as penguin.fit builds it
    trainer = L.Trainer(max_steps=max_steps, val_check_interval=3, check_val_every_n_epoch=None,
                        num_sanity_val_steps=0, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", callbacks=[checkpoint])
    trainer.fit(module, ckpt_path=ckpt_path)
    return module, checkpoint


def _named(folder: Path) -> dict[str, str]:
    manifest = read_manifest(folder / "best.json")
    return {"overall": manifest["overall"]["file"], **{t: e["file"] for t, e in manifest["tasks"].items()}}


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> tuple[Path, Scripted]:
    folder = tmp_path_factory.mktemp("straight") / "checkpoints"
    return folder, _fit(folder, 15)[0]


def test_the_folder_holds_last_the_newest_and_what_the_manifest_names(straight_run):
    folder, module = straight_run
    manifest = read_manifest(folder / "best.json")
    named = {manifest["overall"]["file"], *(t["file"] for t in manifest["tasks"].values())}
    assert named == {"step6.ckpt", "step12.ckpt", "step15.ckpt"}
    assert sorted(os.listdir(folder)) == sorted({"best.json", "last.ckpt", "step15.ckpt"} | named)
    # Step 9 was best for nothing: kept as the newest, deleted at step 12's save; step 3 lost its
    # last title (b) at step 12 too. Step 6 (overall best) stayed throughout.
    assert module.listings[9] == ["best.json", "last.ckpt", "step3.ckpt", "step6.ckpt", "step9.ckpt"]
    assert module.listings[12] == ["best.json", "last.ckpt", "step12.ckpt", "step6.ckpt"]
    for entry in [manifest["overall"], *manifest["tasks"].values()]:  # the very file of that validation
        assert torch.load(folder / entry["file"], weights_only=False)["global_step"] == entry["step"]


def test_the_manifest_says_which_file_is_best_for_what(straight_run):
    folder, _ = straight_run
    manifest = read_manifest(folder / "best.json")
    # Logged values come back as float32, hence approx.
    assert {task: (e["file"], e["step"]) for task, e in manifest["tasks"].items()} == {
        "a": ("step15.ckpt", 15), "b": ("step12.ckpt", 12), "c": ("step12.ckpt", 12)}
    assert [manifest["tasks"][t]["loss"] for t in "abc"] == pytest.approx([0.78, 0.9, 2.0])
    assert manifest["tasks"]["a"]["reason"] == "lowest val/a/loss 0.78 (previous best 0.8 at step 6)"
    metrics = manifest["tasks"]["a"]["metrics"]
    assert metrics.pop("val/c/loss") is None and metrics == pytest.approx({"val/a/loss": 0.78, "val/b/loss": 0.95})
    overall = manifest["overall"]
    assert (overall["file"], overall["step"]) == ("step6.ckpt", 6)
    assert overall["metrics"] == pytest.approx({"val/a/loss": 0.8, "val/b/loss": 1.05})
    assert overall["aggregate"] == pytest.approx(1.025)
    assert manifest["latest"] == {"step": 15, "file": "step15.ckpt",
                                  "verdict": "best for a; not overall best: val/c/loss is nan"}
    assert resolve_checkpoint("best", folder) == folder / "step6.ckpt"
    assert resolve_checkpoint("best:b", folder.parent) == folder / "step12.ckpt"


def test_a_resumed_run_continues_the_same_decisions(straight_run, tmp_path):
    folder = tmp_path / "checkpoints"
    _fit(folder, 7)  # stops between the validations at 6 and 9: last.ckpt is at step 7
    assert torch.load(folder / "last.ckpt", weights_only=False)["global_step"] == 7
    assert sorted(os.listdir(folder)) == ["best.json", "last.ckpt", "step3.ckpt", "step6.ckpt"]
    resumed, _ = _fit(folder, 15, ckpt_path=str(folder / "last.ckpt"))
    assert resumed.listings[9] == straight_run[1].listings[9]
    assert read_manifest(folder / "best.json") == read_manifest(straight_run[0] / "best.json")
    assert sorted(os.listdir(folder)) == sorted(os.listdir(straight_run[0]))


class Crash(Exception):
    pass


def test_a_failed_save_leaves_the_decisions_and_best_json_as_they_were(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    save = L.Trainer.save_checkpoint

    def disk_full_at_step_6(trainer, filepath, *args, **kwargs):
        if trainer.global_step == 6:
            raise Crash("disk full")
        return save(trainer, filepath, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "save_checkpoint", disk_full_at_step_6)
    checkpoint = LastCheckpoint(dirpath=folder, filename="step{step}", auto_insert_metric_name=False,
                                save_last=True, save_top_k=1)
    trainer = L.Trainer(max_steps=15, val_check_interval=3, check_val_every_n_epoch=None, num_sanity_val_steps=0,
                        logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        callbacks=[checkpoint])
    with pytest.raises(Crash):
        trainer.fit(Scripted(folder))
    assert checkpoint.best.files() == {"step3.ckpt"} and checkpoint.best.latest["step"] == 3
    assert _named(folder) == {"overall": "step3.ckpt", "a": "step3.ckpt", "b": "step3.ckpt"}
    assert sorted(os.listdir(folder)) == ["best.json", "last.ckpt", "step3.ckpt"]


@pytest.mark.parametrize("resume_from", ["last.ckpt", "step12.ckpt"])  # the latter as if last.ckpt were torn
def test_files_due_for_deletion_when_a_crash_struck_go_after_the_resume(straight_run, tmp_path, monkeypatch,
                                                                        resume_from):
    folder = tmp_path / "checkpoints"
    remove = LastCheckpoint._remove_checkpoint

    def crash_at_step_12(self, trainer, filepath):
        if trainer.global_step == 12:
            raise Crash(filepath)  # last.ckpt at 12 is written, step3 and step9 not yet deleted
        remove(self, trainer, filepath)

    monkeypatch.setattr(LastCheckpoint, "_remove_checkpoint", crash_at_step_12)
    with pytest.raises(Crash):
        _fit(folder, 15)
    monkeypatch.undo()
    assert sorted(os.listdir(folder)) == ["best.json", "last.ckpt", "step12.ckpt", "step3.ckpt", "step6.ckpt",
                                          "step9.ckpt"]
    _fit(folder, 15, ckpt_path=str(folder / resume_from))
    assert sorted(os.listdir(folder)) == sorted(os.listdir(straight_run[0]))
    assert read_manifest(folder / "best.json") == read_manifest(straight_run[0] / "best.json")


def test_a_run_resumed_from_an_older_step_file_versions_its_own_and_keeps_the_later_ones(tmp_path):
    folder = tmp_path / "checkpoints"
    _fit(folder, 15)
    with pytest.warns(UserWarning) as warned:
        _fit(folder, 15, ckpt_path=str(folder / "step6.ckpt"))
    messages = [str(w.message) for w in warned]
    assert any(m.startswith("best checkpoints: the resumed state names step3.ckpt, no longer in") for m in messages)
    assert any(m.startswith("best.json names step12.ckpt, step15.ckpt from after the checkpoint") for m in messages)
    # The fork's own step 12 and 15 are Lightning's -v1 files, and they hold the titles now;
    # step 9 (best for nothing) went at step 12 as before. The abandoned step12/step15 stay.
    assert _named(folder) == {"overall": "step6.ckpt", "a": "step15-v1.ckpt", "b": "step12-v1.ckpt",
                              "c": "step12-v1.ckpt"}
    assert sorted(os.listdir(folder)) == ["best.json", "last.ckpt", "step12-v1.ckpt", "step12.ckpt",
                                          "step15-v1.ckpt", "step15.ckpt", "step6.ckpt"]


def test_a_save_without_a_validation_at_that_step_judges_nothing(tmp_path):
    # Saved at every epoch end (3 steps an epoch), validated every second epoch: step 9's save comes
    # one epoch after step 6's validation, whose metrics are still in callback_metrics.
    folder = tmp_path / "checkpoints"
    checkpoint = LastCheckpoint(dirpath=folder, filename="step{step}", auto_insert_metric_name=False,
                                save_last=True, save_top_k=1, save_on_train_epoch_end=True)
    module = Scripted(folder, train_batches=3)
    trainer = L.Trainer(max_epochs=3, check_val_every_n_epoch=2, num_sanity_val_steps=0, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", callbacks=[checkpoint])
    trainer.fit(module)
    manifest = read_manifest(folder / "best.json")
    assert manifest["overall"]["file"] == "step6.ckpt"
    assert manifest["latest"] == {"step": 9, "file": "step9.ckpt",
                                  "verdict": "best for nothing; not overall best: no val/<task>/loss was logged"}
    assert sorted(os.listdir(folder)) == ["best.json", "last.ckpt", "step6.ckpt", "step9.ckpt"]


@pytest.mark.parametrize("option", [{"monitor": "val/a/loss"}, {"every_n_train_steps": 100},
                                    {"train_time_interval": timedelta(hours=1)}])
def test_options_that_contradict_the_bests_are_refused_in_one_line(tmp_path, option):
    with pytest.raises(ValueError, match=r"^LastCheckpoint.*(drop monitor|set trainer.val_check_interval)$"):
        LastCheckpoint(dirpath=tmp_path, **option)
