"""Line charts of validation curves drawn with PIL — the PNGs of `penguin.bench forgetting` and
`bench/core_check.py` (no plotting library needed).

    draw = ImageDraw.Draw(image)
    frame(draw, x, y, w, h, steps)                                   # axes 0..1 over steps 0..steps
    polyline(draw, x, y, w, h, [(step, value), ...], steps, COLOURS[0], 2)   # values in 0..1

Values are drawn clipped to [0, 1] and steps to [0, `steps`]; scale other ranges before drawing.
"""
from __future__ import annotations

from PIL import ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (0, 0, 0)]


def frame(draw: ImageDraw.ImageDraw, x: int, y: int, w: int, h: int, steps: int, top: str = "1") -> None:
    """Axes from 0 to `top` (grid every quarter) over steps 0..`steps`, labelled at the corners."""
    draw.rectangle((x, y, x + w, y + h), outline=(160, 160, 160))
    for frac in (0.25, 0.5, 0.75):
        draw.line((x, y + h * (1 - frac), x + w, y + h * (1 - frac)), fill=(230, 230, 230))
    grey = (90, 90, 90)
    draw.text((x + 2, y + 2), top, fill=grey)
    draw.text((x + 2, y + h - 12), "0", fill=grey)
    draw.text((x, y + h + 2), "step 0", fill=grey)
    draw.text((x + w - 60, y + h + 2), f"step {steps}", fill=grey)


def polyline(draw, x, y, w, h, points, steps, fill, width) -> None:
    xy = [(x + w * min(1.0, s / steps), y + h * (1 - max(0.0, min(1.0, v)))) for s, v in points]
    if len(xy) == 1:
        draw.ellipse((xy[0][0] - 2, xy[0][1] - 2, xy[0][0] + 2, xy[0][1] + 2), fill=fill)
    elif xy:
        draw.line(xy, fill=fill, width=width)

