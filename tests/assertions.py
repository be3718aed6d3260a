"""Assertions several test files share."""
import pytest


def one_line_error(fn, *match):
    """`fn()` raises a one-line `ValueError` containing every string of `match`; returns the message."""
    with pytest.raises(ValueError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for part in match:
        assert part in message
    return message


def input_scene_untouched(monkeypatch, task_module, task: str, batch: int):
    """Draw training batch 0 of `task`, recording the scene its `sample_bare` call returns (in the
    task's module `task_module`), and assert `sample()` left every field of it as drawn; returns
    `(scene, spec)` for the caller's own checks on the target."""
    import torch

    from datamodules import registry

    drawn = []
    real = task_module.sample_bare

    def recording_sample_bare(generator, n, **kwargs):
        scene = real(generator, n, **kwargs)
        drawn.append((scene, {k: v.clone() for k, v in vars(scene).items()}))
        return scene

    monkeypatch.setattr(task_module, "sample_bare", recording_sample_bare)
    spec = registry.get(task)(batch_size=batch).train_batch(0)
    (scene, before), = drawn
    for name, value in before.items():
        assert torch.equal(getattr(scene, name), value), f"sample() changed the input scene's {name}"
    return scene, spec
