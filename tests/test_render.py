"""The renderer against independent geometry: a supersampled per-pixel reference, colour centroids
recomputed from the scene parameters, and hand-placed scenes for occlusion, zoom and overlays.

Nothing here calls the renderer's helpers: expected values come from the scene numbers, from
`game_reference` (rectangle corners) and from a brute-force reference that decides each sub-pixel
by point-in-disc / point-in-polygon tests.
"""
import math
from dataclasses import fields

import pytest
import torch

from game_reference import R_AGENT, R_GOLD, rectangle_corners
from penguin.game.render import OPTIONS, View, render
from penguin.game.scene import Scene

R_EYE, EYE_AHEAD, LINE_W, MARKER_OUT = 0.4 * R_AGENT, 0.6 * R_AGENT, 0.021, 1.2 * R_AGENT
GOLD_RGB = (1.0, 200 / 255, 0.0)
T = 0.0625
SIDE_WALLS = [[0.5, T / 2, 1.0, T, 0.0], [0.5, 1 - T / 2, 1.0, T, 0.0],
              [T / 2, 0.5, 1.0, T, math.pi / 2], [1 - T / 2, 0.5, 1.0, T, math.pi / 2]]
GAP_TOP = [[0.225, T / 2, 0.45, T, 0.0], [0.775, T / 2, 0.45, T, 0.0], [0.5, 1 - T / 2, 1.0, T, 0.0],
           [T / 2, 0.5, 1.0, T, math.pi / 2], [1 - T / 2, 0.5, 1.0, T, math.pi / 2]]


@pytest.fixture(autouse=True)
def one_thread():
    """The reference runs hundreds of mid-sized ops; on a shared, busy CPU intra-op threads wait for
    each other at every op and a test takes 10x longer. One thread keeps the file fast everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_scenes(seed, n, interior=True, gold_count=1):
    """Scene JSON: side walls (sometimes with a gap), agent and gold apart, random interior walls."""
    g = torch.Generator().manual_seed(seed)

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(1, generator=g).item()

    scenes = []
    for i in range(n):
        agent = [u(0.15, 0.85), u(0.15, 0.85)]
        gold = []
        while len(gold) < gold_count:
            p = [u(0.1, 0.9), u(0.1, 0.9)]
            if math.dist(p, agent) > R_AGENT + R_GOLD + 0.02 and all(math.dist(p, q) > 3 * R_GOLD for q in gold):
                gold.append(p)
        walls = [list(w) for w in (GAP_TOP if i % 2 else SIDE_WALLS)]
        if interior:
            walls += [[u(0.3, 0.7), u(0.3, 0.7), u(0.375, 0.75), T, u(0, 2 * math.pi)] for _ in range(2)]
        scenes.append({"agent": agent, "heading": u(0, 2 * math.pi), "gold": gold, "walls": walls})
    return scenes


def reference(scene, size, ss=4, center=None, factor=1.0, line_to_gold=False, line=None, corners=False, hide=()):
    """Supersampled image `[3, S, S]`: every sub-pixel takes the colour of the last shape containing it."""
    side = 1.0 / factor
    ox = oy = 0.0
    if center is not None:
        ox = min(max(center[0] - side / 2, 0.0), 1.0 - side)
        oy = min(max(center[1] - side / 2, 0.0), 1.0 - side)
    k = (torch.arange(size * ss, dtype=torch.float64) + 0.5) / (size * ss) * side
    x, y = ox + k[None, :].expand(size * ss, -1), oy + k[:, None].expand(-1, size * ss)
    img = torch.ones(3, size * ss, size * ss, dtype=torch.float64)

    def paint(mask, rgb):
        for c in range(3):
            img[c][mask] = rgb[c]

    def disc(cx, cy, r):
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r

    def polygon(corners_):
        return in_polygon(x, y, corners_)

    def bar(x0, y0, phi, length):
        if length > 0:
            cx, cy = x0 + math.cos(phi) * length / 2, y0 + math.sin(phi) * length / 2
            paint(polygon(rectangle_corners((cx, cy, length, LINE_W, phi))), (0, 0, 213 / 255))

    (ax, ay), th = scene["agent"], scene["heading"]
    if "agent" not in hide:
        paint(disc(ax, ay, R_AGENT), (0, 1, 0))
        paint(disc(ax + EYE_AHEAD * math.cos(th), ay + EYE_AHEAD * math.sin(th), R_EYE), (1, 0, 0))
    if "walls" not in hide:
        for w in scene["walls"]:
            paint(polygon(rectangle_corners(w)), (0, 0, 0))
    if "gold" not in hide:
        for gx, gy in scene["gold"]:
            paint(disc(gx, gy, R_GOLD), GOLD_RGB)
    if line_to_gold and scene["gold"]:
        gx, gy = scene["gold"][0]
        phi = math.atan2(gy - ay, gx - ax)
        bar(ax + R_AGENT * math.cos(phi), ay + R_AGENT * math.sin(phi), phi, math.dist((gx, gy), (ax, ay)) - R_AGENT - R_GOLD)
    if line is not None:
        phi, length = line
        bar(ax + R_AGENT * math.cos(phi), ay + R_AGENT * math.sin(phi), phi, length)
    if corners:
        for mx, my in expected_markers(scene["walls"]):
            paint(disc(mx, my, R_GOLD), (0, 0, 1))
    return img.view(3, size, ss, size, ss).mean((2, 4)).float()


def in_polygon(x, y, corners):
    """Convex polygon containment of point grids: every edge's cross product has the same sign."""
    signs = [(bx - ax) * (y - ay) - (by - ay) * (x - ax)
             for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1])]
    return torch.stack([s >= 0 for s in signs]).all(0) | torch.stack([s <= 0 for s in signs]).all(0)


def expected_markers(walls):
    """Corner marker centres: each polygon corner pushed `1.2 r_a` away along the corner's diagonal."""
    out = []
    for w in walls:
        cs = rectangle_corners(w)
        for i, (px, py) in enumerate(cs):
            # The two edges meeting at this corner point away from it; the outward diagonal is minus their sum.
            (ax, ay), (bx, by) = cs[i - 1], cs[(i + 1) % 4]
            ex, ey = (ax - px) / math.dist(cs[i - 1], (px, py)), (ay - py) / math.dist(cs[i - 1], (px, py))
            fx, fy = (bx - px) / math.dist(cs[(i + 1) % 4], (px, py)), (by - py) / math.dist(cs[(i + 1) % 4], (px, py))
            dx, dy = -(ex + fx) / math.sqrt(2), -(ey + fy) / math.sqrt(2)
            out.append((px + MARKER_OUT * dx, py + MARKER_OUT * dy))
    return out


def centroid(weight):
    """Centroid `(x, y)` in room units and mass (pixels) of a weight map `[S, S]`."""
    s = weight.shape[-1]
    c = (torch.arange(s, dtype=torch.float64) + 0.5) / s
    w = weight.double()
    m = w.sum()
    return ((w.sum(0) * c).sum() / m).item(), ((w.sum(1) * c).sum() / m).item(), m.item()


def pixel_centres(size):
    c = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    return c[None, :].expand(size, -1), c[:, None].expand(-1, size)


# ---------------------------------------------------------------------------- whole images
@pytest.mark.parametrize("size", [64, 224])
def test_matches_supersampled_reference(size):
    js = random_scenes(1, 4, gold_count=2)
    scene = Scene.from_json(js)
    options = [dict(), dict(line_to_gold=True, corners=True)]
    for opts in options:
        images = render(scene, size, **opts)
        assert images.shape == (4, 3, size, size) and images.dtype == torch.float32
        assert images.min() >= 0 and images.max() <= 1
        for i in range(4):
            diff = (images[i] - reference(js[i], size, **opts)).abs().amax(0)
            # Anti-aliased edges differ from the box filter by a fraction of a pixel's coverage.
            assert diff.mean() < 0.006, (opts, i, diff.mean())
            assert diff.max() < 0.4, (opts, i, diff.max())
            assert (diff > 0.2).float().mean() < 0.002, (opts, i)


def test_unusual_walls_match_reference():
    """Interior walls at right angles (the matmul path), walls thicker than long, a wall reaching out
    of the room, a wall thinner than a pixel, and a line that leaves the image."""
    sc = {"agent": [0.3, 0.3], "heading": 4.0, "gold": [[0.9, 0.85]],
          "walls": GAP_TOP + [[0.5, 0.7, 0.4, T, math.pi / 2], [0.7, 0.4, 0.3, T, math.pi],
                              [0.25, 0.75, 0.05, 0.2, 0.4], [0.9, 0.2, 0.5, 0.04, 2.2],
                              [0.6, 0.2, 0.3, 0.003, 0.1]]}
    for size in (64, 96):
        image = render(Scene.from_json(sc), size, line_angle=torch.tensor([2.5]), line_length=torch.tensor([2.0]))[0]
        diff = (image - reference(sc, size, line=(2.5, 2.0))).abs().amax(0)
        assert diff.mean() < 0.01 and diff.max() < 0.4, (size, diff.mean(), diff.max())


def test_zoomed_views_match_reference():
    js = random_scenes(2, 6)
    scene = Scene.from_json(js)
    factor = torch.tensor([1.0, 2.0, 3.5, 6.0, 12.0, 21.0])
    center = torch.tensor([[0.5, 0.5], js[1]["agent"], js[2]["gold"][0], [0.02, 0.97], js[4]["agent"], [0.3, 0.6]])
    images = render(scene, 64, zoom_center=center, zoom_factor=factor)
    for i in range(6):
        ref = reference(js[i], 64, center=center[i].tolist(), factor=factor[i].item())
        diff = (images[i] - ref).abs().amax(0)
        assert diff.mean() < 0.01 and diff.max() < 0.4, (i, diff.mean(), diff.max())


def test_mixed_zoom_batch_equals_one_by_one():
    scene = Scene.from_json(random_scenes(3, 5))
    factor = torch.tensor([1.0, 20.0, 2.5, 1.0, 7.0])
    center = scene.agent + 0.01
    hide = torch.tensor([False, True, False, True, False])
    batch = render(scene, 64, zoom_center=center, zoom_factor=factor, hide_gold=hide, line_to_gold=~hide)
    for i in range(5):
        one = render(scene[i], 64, zoom_center=center[i:i + 1], zoom_factor=factor[i:i + 1],
                     hide_gold=bool(hide[i]), line_to_gold=not bool(hide[i]))
        assert torch.allclose(batch[i], one[0], atol=1e-5), i


# ---------------------------------------------------------------------------- objects
@pytest.mark.parametrize("size", [64, 224])
def test_body_eye_and_gold_centroids(size):
    js = random_scenes(4, 16, interior=False)
    scene = Scene.from_json(js)
    agent_only = render(scene, size, hide_gold=True)
    gold_only = render(scene, size, hide_agent=True)
    for i, sc in enumerate(js):
        r, g, b = agent_only[i].unbind(0)
        bx, by, body_mass = centroid(r + g - 2 * b)  # green ∪ red against white/black
        ex, ey, eye_mass = centroid(r - b)  # red only
        assert math.dist((bx, by), sc["agent"]) * size <= 1.0
        eye = (sc["agent"][0] + EYE_AHEAD * math.cos(sc["heading"]), sc["agent"][1] + EYE_AHEAD * math.sin(sc["heading"]))
        assert math.dist((ex, ey), eye) * size <= 1.0
        assert body_mass == pytest.approx(math.pi * (R_AGENT * size) ** 2, rel=0.05)
        assert eye_mass == pytest.approx(math.pi * (R_EYE * size) ** 2, rel=0.1)
        heading = math.atan2(ey - by, ex - bx) % (2 * math.pi)
        err = abs((heading - sc["heading"] + math.pi) % (2 * math.pi) - math.pi)
        assert math.degrees(err) < 3.0, (i, math.degrees(err))

        r, g, b = gold_only[i].unbind(0)
        gx, gy, gold_mass = centroid(r - b)  # only the gold is red-ish without the agent
        assert math.dist((gx, gy), sc["gold"][0]) * size <= 1.0
        assert gold_mass == pytest.approx(math.pi * (R_GOLD * size) ** 2, rel=0.15)


def test_hidden_objects_are_absent():
    js = random_scenes(5, 6, gold_count=2)
    scene = Scene.from_json(js)
    size = 96
    full = render(scene, size)
    no_agent = render(scene, size, hide_agent=True)
    no_gold = render(scene, size, hide_gold=True)
    no_walls = render(scene, size, hide_walls=True)
    walls_only = render(scene, size, hide_agent=True, hide_gold=True)
    x, y = pixel_centres(size)

    def green(im):
        return (im[1] - torch.maximum(im[0], im[2])).clamp(min=0).sum()

    for i, sc in enumerate(js):
        assert green(full[i]) > 10 and green(no_agent[i]) == 0
        # Without agent and gold only walls remain: every pixel is grey (black, white or an edge).
        assert torch.equal(walls_only[i, 0], walls_only[i, 1]) and torch.equal(walls_only[i, 1], walls_only[i, 2])
        # Hiding the gold changes only pixels within a pixel of a coin.
        near_gold = torch.zeros(size, size, dtype=torch.bool)
        for gx, gy in sc["gold"]:
            near_gold |= ((x - gx) ** 2 + (y - gy) ** 2).sqrt() < R_GOLD + 1.5 / size
        changed = (full[i] != no_gold[i]).any(0)
        assert changed.any() and not (changed & ~near_gold).any()
        # Every colour but the walls' black sums to at least 1 over the channels (green, red, their blends).
        assert no_walls[i].sum(0).min() > 0.999 and full[i].sum(0).min() < 1e-6
    # Per-sample flags pick per sample.
    mixed = render(scene, size, hide_agent=torch.tensor([True, False] * 3))
    for i in range(6):
        assert torch.equal(mixed[i], (no_agent if i % 2 == 0 else full)[i])


def test_walls_black_where_expected_and_occlude_agent():
    wall = [0.5, 0.5, 0.6, T, 0.7]
    # The agent sits across the wall's edge: its centre is 0.6 r_a from the wall's mid-line.
    agent = [0.5 - 0.6 * R_AGENT * math.sin(0.7), 0.5 + 0.6 * R_AGENT * math.cos(0.7)]
    sc = {"agent": agent, "heading": 0.0, "gold": [[0.8, 0.2]], "walls": SIDE_WALLS + [wall]}
    size = 128
    im = render(Scene.from_json(sc), size)[0].double()
    x, y = pixel_centres(size)
    margin = 1.0 / size  # a pixel inside an edge, coverage is full

    def grown(w, by):
        return rectangle_corners([w[0], w[1], w[2] + 2 * by, w[3] + 2 * by, w[4]])

    deep = torch.zeros(size, size, dtype=torch.bool)
    for w in sc["walls"]:
        deep |= in_polygon(x, y, grown(w, -margin))
    assert deep.sum() > 3000
    assert im[:, deep].max() < 1e-6  # black, including where the wall crosses the agent
    agent_disc = (x - agent[0]) ** 2 + (y - agent[1]) ** 2 < (R_AGENT - margin) ** 2
    assert (agent_disc & deep).sum() > 20
    # Agent pixels the wall does not touch stay green or red.
    clean = agent_disc & ~in_polygon(x, y, grown(wall, margin))
    assert clean.sum() > 20
    assert (im[0] + im[1])[clean].min() > 0.999 and im[2][clean].max() < 1e-6
    # Floor far from every shape is white.
    free = (x - 0.8) ** 2 + (y - 0.2) ** 2 > (R_GOLD + margin) ** 2
    for w in sc["walls"]:
        free &= ~in_polygon(x, y, grown(w, margin))
    free &= (x - agent[0]) ** 2 + (y - agent[1]) ** 2 > (R_AGENT + margin) ** 2
    assert free.sum() > 5000 and im[:, free].min() > 0.999


def test_gold_is_drawn_over_walls():
    sc = {"agent": [0.3, 0.7], "heading": 1.0, "gold": [[0.5, 0.5], [0.5, T / 2]],
          "walls": SIDE_WALLS + [[0.5, 0.5, 0.5, T, 0.0]]}
    size = 224
    im = render(Scene.from_json(sc), size)[0].double()
    x, y = pixel_centres(size)
    for gx, gy in sc["gold"]:
        inner = (x - gx) ** 2 + (y - gy) ** 2 < (R_GOLD - 1.0 / size) ** 2
        assert inner.sum() > 10
        for c in range(3):
            assert torch.allclose(im[c][inner], torch.tensor(GOLD_RGB[c], dtype=torch.float64), atol=1e-6)


# ---------------------------------------------------------------------------- views
def test_zoom_centres_the_agent_and_scales_it():
    sc = {"agent": [0.47, 0.52], "heading": 2.0, "gold": [[0.2, 0.2]], "walls": SIDE_WALLS}
    size = 128
    for factor in (1.0, 2.0, 4.0, 7.5):
        im = render(Scene.from_json(sc), size, zoom_center=torch.tensor([sc["agent"]]), zoom_factor=factor,
                    hide_gold=True)[0]
        r, g, b = im.unbind(0)
        x, y, mass = centroid(r + g - 2 * b)
        expected = sc["agent"] if factor == 1.0 else (0.5, 0.5)  # factor 1 shows the whole room
        assert math.dist((x, y), expected) * size < 0.5
        radius = math.sqrt(mass / math.pi)
        assert radius == pytest.approx(R_AGENT * factor * size, abs=0.5)


def test_zoom_window_is_clamped_to_the_room():
    sc = {"agent": [0.5, 0.5], "heading": 0.0, "gold": [[0.1, 0.9]], "walls": SIDE_WALLS}
    size, factor = 64, 4.0
    im = render(Scene.from_json(sc), size, zoom_center=torch.tensor([[0.02, 0.98]]), zoom_factor=factor)[0]
    # The window is [0, 0.25] × [0.75, 1]: gold at ((0.1 − 0) · 4, (0.9 − 0.75) · 4) of the image.
    r, g, b = im.unbind(0)
    gold = (r - b).clamp(min=0) * (im[1] > 0.5)  # gold, not the black walls
    x, y, _ = centroid(gold)
    assert x == pytest.approx(0.4, abs=1 / size) and y == pytest.approx(0.6, abs=1 / size)
    wall_px = T * factor * size  # 16 px of left and bottom wall
    assert im[:, :, : int(wall_px)].max() < 1e-6 and im[:, -int(wall_px):, :].max() < 1e-6
    assert im[:, : size // 2, int(wall_px) + 1:].min() > 0.999  # upper right: open floor


# ---------------------------------------------------------------------------- overlays
def _blue(im):
    """Line-blue weight: how much of a pixel is blue ink (B above R and G)."""
    return (im[2] - torch.maximum(im[0], im[1])).clamp(min=0)


def test_line_to_gold_runs_between_the_rims():
    js = random_scenes(6, 8, interior=False)
    scene = Scene.from_json(js)
    size = 224
    images = render(scene, size, line_to_gold=True, hide_walls=True)
    x, y = pixel_centres(size)
    half_px = 0.5 / size
    for i, sc in enumerate(js):
        blue = _blue(images[i].double()) > 0.05
        (ax, ay), (gx, gy) = sc["agent"], sc["gold"][0]
        d = math.dist((ax, ay), (gx, gy))
        ux, uy = (gx - ax) / d, (gy - ay) / d
        along = (x - ax) * ux + (y - ay) * uy
        across = (-(x - ax) * uy + (y - ay) * ux).abs()
        dist = ((x - ax) ** 2 + (y - ay) ** 2).sqrt()
        assert blue.sum() > 0.5 * (d - R_AGENT - R_GOLD) * LINE_W * size * size
        assert (dist[blue] >= R_AGENT - LINE_W - half_px).all()
        assert (dist[blue] <= d - R_GOLD + LINE_W + half_px).all()
        assert (along[blue] > 0).all() and (across[blue] <= LINE_W).all()


def test_line_at_angle_has_the_right_direction_and_length():
    js = random_scenes(7, 6, interior=False)
    scene = Scene.from_json(js)
    size = 224
    angle = torch.tensor([0.0, 1.0, 2.5, math.pi, 4.0, 5.5])
    length = torch.tensor([0.3, 0.1, 0.25, 0.05, 0.2, 0.15])
    mask = torch.tensor([True, True, True, True, True, False])
    images = render(scene, size, line_angle=angle, line_length=length, line_mask=mask, hide_walls=True, hide_gold=True)
    x, y = pixel_centres(size)
    half_px = 0.5 / size
    for i, sc in enumerate(js):
        blue = _blue(images[i].double()) > 0.05
        if not mask[i]:
            assert not blue.any()
            continue
        ax, ay = sc["agent"]
        ux, uy = math.cos(angle[i].item()), math.sin(angle[i].item())
        dist = ((x - ax) ** 2 + (y - ay) ** 2).sqrt()
        along = (x - ax) * ux + (y - ay) * uy
        across = (-(x - ax) * uy + (y - ay) * ux).abs()
        visible = min(length[i].item(), 1.0)  # the bar may leave the room; these stay inside
        assert blue.sum() > 0.5 * visible * LINE_W * size * size
        assert (dist[blue] >= R_AGENT - LINE_W - half_px).all()
        assert (along[blue] <= R_AGENT + length[i].item() + half_px * 2).all()
        assert (along[blue] > 0).all() and (across[blue] <= LINE_W).all()


def test_corner_markers_sit_diagonally_outside_each_corner():
    wall = [0.5, 0.5, 0.5, T, 0.3]
    sc = {"agent": [0.2, 0.8], "heading": 0.0, "gold": [[0.8, 0.8]], "walls": [wall]}
    size = 224
    im = render(Scene.from_json(sc), size, corners=True)[0].double()
    pure_blue = (im[2] - torch.maximum(im[0], im[1])).clamp(min=0)
    x, y = pixel_centres(size)
    area = math.pi * (R_GOLD * size) ** 2
    total = 0.0
    for mx, my in expected_markers([wall]):
        near = ((x - mx) ** 2 + (y - my) ** 2).sqrt() < R_GOLD + 2.0 / size
        cx, cy, mass = centroid(pure_blue * near)
        assert mass == pytest.approx(area, rel=0.1)
        assert math.dist((cx, cy), (mx, my)) * size < 0.5
        total += mass
    assert pure_blue.sum().item() == pytest.approx(total, rel=1e-6)  # nothing blue elsewhere


# ---------------------------------------------------------------------------- options, declared once
def changed_options(b):
    """A value other than the default for every field of `View`, per sample: flags alternate with
    the default, numbers and points move away from it (zoom factors stay >= 1). Derived from the
    fields themselves, so an option added to `View` is covered here without editing this test."""
    options = {}
    for f in fields(View)[1:]:
        if isinstance(f.default, bool):
            options[f.name] = torch.tensor([not f.default, f.default] * (b // 2) + [not f.default] * (b % 2))
        elif isinstance(f.default, float):
            options[f.name] = f.default + torch.linspace(0.25, 3.0, b)
        else:
            options[f.name] = torch.tensor(f.default) + torch.linspace(-0.3, 0.3, b)[:, None]
    return options


def test_every_option_is_a_field_of_view_and_draws_the_same_both_ways():
    assert OPTIONS == tuple(f.name for f in fields(View))[1:] and fields(View)[0].name == "scene"
    scene = Scene.from_json(random_scenes(11, 5, gold_count=2))
    options = changed_options(5)
    batch = render(scene, 64, **options)
    assert torch.equal(View.of(scene, **options).render(64), batch)
    assert not torch.equal(batch, render(scene, 64))
    for i in range(5):
        # Batch-wide Python values draw what the same per-sample values draw.
        alone = {name: (tuple(v[i].tolist()) if v.dim() == 2 else v[i].item()) for name, v in options.items()}
        one = render(scene[torch.tensor([i])], 64, **alone)
        assert torch.allclose(one[0], batch[i], atol=1e-5), i
        assert torch.equal(View.of(scene[torch.tensor([i])], **alone).render(64), one)


def test_view_of_broadcasts_every_option_to_per_sample_tensors():
    scene = Scene.from_json(random_scenes(12, 3))
    view = View.of(scene, hide_gold=True, zoom_factor=torch.tensor(2.0), zoom_center=torch.tensor([0.25, 0.75]))
    for f in fields(View)[1:]:
        value = getattr(view, f.name)
        assert isinstance(value, torch.Tensor) and value.shape[0] == 3, f.name
    assert view.hide_gold.tolist() == [True] * 3 and view.hide_agent.tolist() == [False] * 3
    assert view.zoom_factor.tolist() == [2.0] * 3 and view.zoom_center.tolist() == [[0.25, 0.75]] * 3
    assert torch.allclose(view[torch.tensor([2, 0])].render(64), view.render(64)[[2, 0]], atol=1e-5)


def test_an_unknown_option_is_a_one_line_error_listing_the_valid_ones():
    scene = Scene.from_json(random_scenes(13, 2))
    for make in (lambda: render(scene, 64, zoom=2.0), lambda: View.of(scene, zoom=2.0)):
        with pytest.raises(ValueError) as error:
            make()
        message = str(error.value)
        assert "\n" not in message and "zoom" in message.split(";")[0]
        assert message.split("valid options: ")[1].split(", ") == list(OPTIONS)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_raises_value_error_naming_the_argument():
    scene = Scene.from_json(random_scenes(8, 2))
    cases = [
        (dict(size=31), "size"), (dict(size=64.0), "size"), (dict(size=True), "size"),
        (dict(zoom_center=scene.agent, zoom_factor=0.5), "zoom_factor"),
        (dict(zoom_center=scene.agent, zoom_factor=float("nan")), "zoom_factor"),
        (dict(zoom_center=scene.agent, zoom_factor=torch.tensor([2.0, float("inf")])), "zoom_factor"),
        (dict(zoom_center=scene.agent, zoom_factor=torch.tensor([2.0, 3.0, 4.0])), "zoom_factor"),
        (dict(zoom_center=scene.agent), "zoom_factor"),
        (dict(zoom_factor=2.0), "zoom_center"),
        (dict(zoom_center=torch.zeros(2, 3), zoom_factor=2.0), "zoom_center"),
        (dict(zoom_center=torch.full((2, 2), float("nan")), zoom_factor=2.0), "zoom_center"),
        (dict(hide_agent=torch.tensor([True, False, True])), "hide_agent"),
        (dict(hide_gold=torch.tensor([1, 0])), "hide_gold"),
        (dict(corners="yes"), "corners"),
        (dict(line_angle=torch.zeros(2)), "line_length"),
        (dict(line_angle=torch.zeros(2, 1), line_length=torch.zeros(2)), "line_angle"),
        (dict(line_angle=torch.zeros(2), line_length=torch.tensor([0.1, -0.1])), "line_length"),
        (dict(line_angle=torch.zeros(2), line_length=torch.ones(2), line_mask=torch.ones(2)), "line_mask"),
        (dict(line_angle=torch.tensor([0.0, float("nan")]), line_length=torch.ones(2)), "line_angle"),
    ]
    for kwargs, name in cases:
        size = kwargs.pop("size", 64)
        with pytest.raises(ValueError, match=name):
            render(scene, size, **kwargs)
    nan_agent = scene.replace(agent=torch.tensor([[0.5, float("nan")], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="agent"):
        render(nan_agent, 64)
    outside = scene.replace(gold=scene.gold + 2.0)
    with pytest.raises(ValueError, match="gold"):
        render(outside, 64)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    js = random_scenes(9, 8, gold_count=2)
    scene = Scene.from_json(js)
    kwargs = dict(zoom_center=scene.agent, zoom_factor=torch.tensor([1.0, 1.0, 2.0, 3.0, 5.0, 9.0, 15.0, 21.0]),
                  line_to_gold=True, corners=True, line_angle=torch.linspace(0, 6, 8), line_length=torch.full((8,), 0.2))
    for size in (64, 224):
        cpu = render(scene, size, **kwargs)
        gpu = render(scene.to("cuda"), size, **{k: v.cuda() if isinstance(v, torch.Tensor) else v
                                                  for k, v in kwargs.items()})
        assert gpu.device.type == "cuda"
        assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)
