"""Scene tensors: JSON round trip, batching helpers, and one-line errors on bad input."""
import math

import pytest
import torch

from penguin.game.sampling import sample_bare, sample_full
from penguin.game.scene import Scene


def test_json_round_trip_preserves_every_field():
    g = torch.Generator().manual_seed(3)
    scene = Scene.cat([sample_bare(g, 4), sample_full(g, 4)])
    items = scene.to_json()
    assert [len(it["walls"]) for it in items] == scene.wall_valid.sum(1).tolist()
    back = Scene.from_json(items)
    for a, b in zip(items, back.to_json()):
        assert a["agent"] == pytest.approx(b["agent"])
        assert a["heading"] == pytest.approx(b["heading"])
        assert a["gold"] == [pytest.approx(c) for c in b["gold"]]
        assert a["walls"] == [pytest.approx(w) for w in b["walls"]]


def test_from_json_reads_the_documented_format():
    scene = Scene.from_json({"agent": [0.25, 0.75], "heading": 7.0, "gold": [[0.5, 0.5], [0.1, 0.2]],
                             "walls": [[0.5, 0.03, 1.0, 0.0625, 0.0]]})
    assert scene.agent.tolist() == [[0.25, 0.75]]
    assert scene.heading.item() == pytest.approx(7.0 - 2 * math.pi)
    assert scene.gold_valid.tolist() == [[True, True]]
    assert scene.first_gold().tolist() == [[0.5, 0.5]]


@pytest.mark.parametrize("item, field", [
    ({"agent": [float("nan"), 0.5], "heading": 0.0, "gold": [], "walls": []}, "agent"),
    ({"agent": [1.5, 0.5], "heading": 0.0, "gold": [], "walls": []}, "agent"),
    ({"agent": [0.5, 0.5], "heading": 0.0, "gold": [[0.2, -0.1]], "walls": []}, "gold"),
    ({"agent": [0.5, 0.5], "heading": float("inf"), "gold": [], "walls": []}, "heading"),
    ({"agent": [0.5, 0.5], "heading": 0.0, "gold": [], "walls": [[0.5, 0.5, -1, 0.1, 0]]}, "walls"),
])
def test_bad_coordinates_name_the_field(item, field):
    with pytest.raises(ValueError, match=rf"Scene\.{field}"):
        Scene.from_json(item)


def test_malformed_json_is_one_line_error():
    with pytest.raises(ValueError, match="malformed") as err:
        Scene.from_json({"agent": [0.5], "heading": 0.0})
    assert "\n" not in str(err.value)


def test_wrong_shapes_name_the_field():
    b = 2
    ok = dict(agent=torch.zeros(b, 2), heading=torch.zeros(b), gold=torch.zeros(b, 1, 2),
              gold_valid=torch.ones(b, 1, dtype=torch.bool), walls=torch.zeros(b, 1, 5),
              wall_valid=torch.ones(b, 1, dtype=torch.bool))
    Scene(**ok)
    for name, bad in [("heading", torch.zeros(b + 1)), ("gold", torch.zeros(b, 1, 3)),
                      ("walls", torch.zeros(b, 1, 4)), ("gold_valid", torch.ones(b, 1))]:
        with pytest.raises(ValueError, match=rf"Scene\.{name}"):
            Scene(**{**ok, name: bad})


def test_cat_pads_slots_and_indexing_selects_samples():
    g = torch.Generator().manual_seed(0)
    bare, full = sample_bare(g, 3), sample_full(g, 2)
    both = Scene.cat([bare, full])
    assert both.walls.shape[1] == full.walls.shape[1] and both.batch_size == 5
    assert both[3:].to_json() == full.to_json()
    assert both[:3].to_json() == bare.to_json()
