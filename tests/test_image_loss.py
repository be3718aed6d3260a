"""The image term's pixel weighting (`lit_modules.terms.image_loss`): foreground pixels weigh
`1 + α`, pixels the target changes relative to the input weigh another `β`, normalised to mean 1
per image — recomputed here pixel by pixel, and checked on a real arrow episode."""
import pytest
import torch

from datamodules import registry
from lit_modules.terms import BACKGROUND_LEVEL, EDIT_THRESHOLD, changed_pixels, image_loss


def _reference(prediction, target, input, alpha, beta):
    """The weighted MSE, one pixel at a time."""
    total = 0.0
    batch, _, size, _ = target.shape
    for b in range(batch):
        weights, errors = [], []
        for y in range(size):
            for x in range(size):
                t, p, i = target[b, :, y, x], prediction[b, :, y, x], input[b, :, y, x]
                w = 1.0
                if min(t.tolist()) < BACKGROUND_LEVEL:
                    w += alpha
                if max((t - i).abs().tolist()) > EDIT_THRESHOLD:
                    w += beta
                weights.append(w)
                errors.append(((p - t) ** 2).mean().item())
        mean_w = sum(weights) / len(weights)
        total += sum(w / mean_w * e for w, e in zip(weights, errors)) / len(weights)
    return total / batch


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    size = 8
    input = torch.ones(2, 3, size, size)
    input[:, :, 2:4, 2:5] = 0.2  # an object (foreground in both)
    target = input.clone()
    target[0, 2, 5, 1:7] = 0.0  # image 0: a line the target adds (changed, foreground)
    target[0, :, 2, 2] = 1.0  # image 0: a pixel the target erases (changed, background)
    target[1, 0, 6, 6] = 1.0 - EDIT_THRESHOLD / 2  # image 1: a change below the threshold
    prediction = torch.rand(2, 3, size, size, generator=g)
    return prediction, target, input


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (4.0, 0.0), (0.0, 30.0), (4.0, 30.0)])
def test_the_loss_matches_a_pixel_by_pixel_reference(images, alpha, beta):
    prediction, target, input = images
    got = image_loss(prediction, target, alpha, edit_weight=beta, input=input)
    assert got.item() == pytest.approx(_reference(prediction, target, input, alpha, beta), rel=1e-5)


def test_changed_pixels_are_the_edit_and_nothing_else(images):
    _, target, input = images
    changed = changed_pixels(input, target)
    assert changed.shape == (2, 1, 8, 8)
    assert changed[0].sum() == 7 and changed[0, 0, 5, 1:7].all() and changed[0, 0, 2, 2]
    assert not changed[1].any()


def test_without_an_input_of_the_targets_size_the_edit_weight_does_nothing(images):
    prediction, target, input = images
    plain = image_loss(prediction, target, 4.0)
    assert image_loss(prediction, target, 4.0, edit_weight=30.0) == plain
    assert image_loss(prediction, target, 4.0, edit_weight=30.0, input=input[:, :, :4, :4]) == plain
    assert image_loss(prediction, target, 4.0, edit_weight=30.0, input=input) != plain


def _grad(prediction, target, input, beta):
    prediction = prediction.clone().requires_grad_()
    image_loss(prediction, target, 4.0, edit_weight=beta, input=input).backward()
    return prediction.grad.sum(dim=1)  # [B, S, S]


def test_on_the_arrow_the_edit_weight_lands_on_the_line_of_the_draw_step_only():
    module = registry.get("arrow")(batch_size=8, image_size=64, seed=5)
    episode = module.train_batch(0).render(64)
    for step in episode.steps:
        draws = (step.image_target != step.image).flatten(1).any(1)
        assert 0 < draws.sum() < 8  # both steps mix draw and copy samples (random order)
        # Predict a perfect copy of the input: its only error is the line the draw samples lack.
        weighted, plain = (_grad(step.image, step.image_target, step.image, beta) for beta in (30.0, 0.0))
        assert not weighted[~draws].any()  # the copy samples are already right
        changed = changed_pixels(step.image, step.image_target)[:, 0]
        for b in draws.nonzero().flatten():
            hit = plain[b] != 0  # the line, with its faint anti-aliased rim
            ratio = weighted[b][hit] / plain[b][hit]
            line, rim = ratio[changed[b][hit]], ratio[~changed[b][hit]]
            assert len(line) > 0 and len(rim) > 0
            # Per image, both are rescaled by the same normalisation; the line weighs 1 + 4 + 30
            # where its rim (foreground, unchanged) weighs 1 + 4.
            torch.testing.assert_close(line, torch.full_like(line, rim[0].item() * 35 / 5))
            torch.testing.assert_close(rim, torch.full_like(rim, rim[0].item()))
