"""`bench/control_views.py`: views land in the split their zoom factor names, the references lose
what they say on images whose answer is known by hand, the split accounting adds up to the MSE
computed directly from the validation batches, and bad arguments are one-line errors."""
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from datamodules import registry
from penguin.brain import Brain

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("control_views", ROOT / "bench" / "control_views.py")
control_views = importlib.util.module_from_spec(spec)
spec.loader.exec_module(control_views)


def test_each_view_lands_in_the_split_of_its_zoom_factor():
    factor = torch.tensor([1.0, 2.0, 3.5, 5.0, 5.01, 10.0, 10.5, 21.0])
    assert control_views.split_of(factor).tolist() == [0, 1, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match="outside every split"):
        control_views.split_of(torch.tensor([1.5]))


def test_the_references_lose_exactly_the_detail_they_name():
    # a one-pixel checkerboard: every 2x2 average is 0.5, so half resolution misses each pixel by 0.5
    board = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float()
    image = board.expand(1, 3, 16, 16)
    assert torch.allclose(control_views.half_resolution(image), torch.full_like(image, 0.5))
    # an image constant within each 8-px patch is its own flat-patch version; 2x2 blocks survive half resolution
    blocks = torch.rand(1, 3, 2, 2).repeat_interleave(8, 2).repeat_interleave(8, 3)
    assert torch.allclose(control_views.flat_patches(blocks, 8), blocks)
    pairs = torch.rand(1, 3, 8, 8).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert not torch.allclose(control_views.flat_patches(pairs, 8), pairs)
    stats = control_views.per_sample(image, image, 8)
    assert stats["half_resolution_sq"].item() == pytest.approx(0.25 * 3 * 256)
    assert stats["foreground_sq"].item() == stats["background_sq"].item() == 0
    assert stats["foreground_pixels"].item() == 128  # the black squares; the white ones are background


class _Painter:
    """A stand-in module that paints every view one grey (or, `exact`, returns the target)."""

    def __init__(self, exact: bool = False):
        self.brain = SimpleNamespace(config=SimpleNamespace(image_size=64, patch_size=8))
        self.exact = exact

    def run(self, episode):
        target = episode.steps[0].image_target
        image = target.clone() if self.exact else torch.full_like(target, 0.5)
        return SimpleNamespace(outputs=[SimpleNamespace(image=image)])


def test_the_splits_add_up_to_the_mse_of_the_validation_batches():
    result = control_views.measure(_Painter(), batches=3, batch_size=16)
    data = registry.get("control")(val_batches=3, batch_size=16, image_size=64)
    squared, factors = [], []
    for b in range(3):
        batch = data.val_batch(b)
        target = batch.render(64).steps[0].image_target
        squared.append((0.5 - target).pow(2).mean(dim=(1, 2, 3)))
        factors.append(batch.steps[0].input.zoom_factor)
    squared, factors = torch.cat(squared), torch.cat(factors)
    assert result["samples"] == 48 and result["mse"] == pytest.approx(squared.mean().item(), rel=1e-5)
    splits = result["splits"]
    assert sum(r["samples"] for r in splits.values()) == 48
    assert sum(r["share_of_error"] for r in splits.values()) == pytest.approx(1.0)
    rooms = factors == 1
    assert splits["room"]["samples"] == int(rooms.sum())
    assert splits["room"]["mse"] == pytest.approx(squared[rooms].mean().item(), rel=1e-5)
    big = factors > 10
    if big.any():
        assert splits["zoom 10-21"]["mse"] == pytest.approx(squared[big].mean().item(), rel=1e-5)
    # the room's pixels are mostly background; a zoom of 10 or more is mostly one object
    assert splits["room"]["foreground_fraction"] < 0.5
    exact = control_views.measure(_Painter(exact=True), batches=1, batch_size=16)
    assert exact["mse"] == 0 and all(r["mse"] == 0 for r in exact["splits"].values())



def test_the_table_and_the_json_say_the_same(monkeypatch, capsys, tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    module = _Painter()
    module.task_names, module.eval = ["control"], lambda: None
    monkeypatch.setattr(control_views, "load_checkpoint", lambda path, device: (module, {}))
    out = tmp_path / "views.json"
    assert control_views.main(["--ckpt", "x.ckpt", "--batches", "1", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"control MSE {saved['mse']:.5f} over 32 views"
    assert [line.split()[0] for line in printed[2:]] == [name.split()[0] for name in saved["splits"]]

