"""Server-rendered SVG charts for the dashboard (no JavaScript, nothing from a CDN).

The functions return plain geometry (rectangles, points, ticks); the template
draws them as SVG, so every label goes through Jinja's autoescaping. Each bar
links to the request log for its day and status class (drill-down).
"""
import math
from dataclasses import dataclass

WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 34
CLASS_ORDER = (2, 3, 4, 5)  # stacked bottom to top
CLASS_LABELS = {2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


@dataclass
class Segment:
    x: float
    y: float
    width: float
    height: float
    status_class: int
    calls: int
    day: object


@dataclass
class Tick:
    y: float
    label: str


def nice_max(value):
    """A round axis maximum >= value (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return int(math.ceil(step * exp))
    return int(10 * exp)


def _ticks(top, plot_h, count=4):
    """Gridlines; callers keep `top` >= count so every label is a whole number."""
    return [Tick(TOP + plot_h - plot_h * i / count, "{:,}".format(round(top * i / count)))
            for i in range(count + 1)]


def stacked_bars(per_day):
    """Geometry of the requests-per-day chart, stacked by status class."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max(4, nice_max(max((d.total for d in per_day), default=0)))
    step = plot_w / max(1, len(per_day))
    bar_w = max(1.0, step * 0.8)
    segments, labels = [], []
    label_every = max(1, len(per_day) // 10)
    for i, d in enumerate(per_day):
        x = LEFT + i * step + (step - bar_w) / 2
        base = TOP + plot_h
        for cls in CLASS_ORDER:
            calls = d.by_class.get(cls, 0)
            if not calls:
                continue
            h = max(0.5, plot_h * calls / top)
            base -= h
            segments.append(Segment(round(x, 2), round(base, 2), round(bar_w, 2), round(h, 2),
                                    cls, calls, d.day))
        if i % label_every == 0:
            labels.append((round(x + bar_w / 2, 2), d.day.strftime("%d %b")))
    return {"width": WIDTH, "height": HEIGHT, "segments": segments, "ticks": _ticks(top, plot_h),
            "x_labels": labels, "left": LEFT, "right": WIDTH - RIGHT, "baseline": TOP + plot_h,
            "label_y": HEIGHT - 10}


def line(per_day, value=lambda d: d.active_customers):
    """Geometry of a one-series line chart (active customers per day)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, 160 - TOP - BOTTOM
    top = max(2, nice_max(max((value(d) for d in per_day), default=0)))
    step = plot_w / max(1, len(per_day))
    points = []
    for i, d in enumerate(per_day):
        x = LEFT + i * step + step / 2
        y = TOP + plot_h - plot_h * value(d) / top
        points.append((round(x, 2), round(y, 2), value(d), d.day))
    label_every = max(1, len(per_day) // 10)
    return {"width": WIDTH, "height": 160, "points": points,
            "polyline": " ".join("%s,%s" % (x, y) for x, y, _, _ in points),
            "ticks": _ticks(top, plot_h, 2), "left": LEFT, "right": WIDTH - RIGHT,
            "baseline": TOP + plot_h, "label_y": 160 - 10,
            "x_labels": [(x, day.strftime("%d %b")) for i, (x, _, _, day) in enumerate(points)
                         if i % label_every == 0]}
