"""Where to look: a 3x3 grid of named cells over the frame, and their boxes in 0-1000 coordinates.

    cell_box("top left")             # [0, 0, 417, 417]: the third grown by 1/12 of the frame on each side
    cell_of_point(40, 30, 320, 240)  # "top left"
    region_box("center")             # a cell name or a 0-1000 box -> a 0-1000 box (what crop_video cuts)

A tiny student cannot learn to write 0-1000 coordinates in minutes (mean IoU 0.009 after 5 min, issue 12), but
it can name one of nine cells. ``crop_video(region="top left")`` accepts a cell name as well as a box; the
oracle, the toy world's questions, the pretraining tasks and the system prompt all read the cells from here.
Cells overlap: each third is grown by ``CELL_PAD`` on every side (the middle cells are half the frame wide), so an
object near a border between two cells lies whole inside at least one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

CELL_NAMES = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
CELL_PAD = 1000 / 12  # 0-1000 units added on each side of a third
_ALIASES = {"centre": "center", "middle": "center", "top center": "top", "bottom center": "bottom",
            "center left": "left", "center right": "right", "upper left": "top left", "upper right": "top right",
            "lower left": "bottom left", "lower right": "bottom right", "top middle": "top", "bottom middle": "bottom"}


def parse_cell(text: str) -> str | None:
    """The cell a text names ("Top-Left", "centre", "upper right" ...), or None when it names none.

    >>> parse_cell(" Top-Left "), parse_cell("centre"), parse_cell("[0, 0, 10, 10]")
    ('top left', 'center', None)
    """
    t = " ".join(str(text).lower().replace("-", " ").replace("_", " ").split())
    t = _ALIASES.get(t, t)
    return t if t in CELL_NAMES else None


def cell_box(name: str) -> list[int]:
    """The 0-1000 box [x0, y0, x1, y1] of a cell: its third of the frame grown by ``CELL_PAD`` per side, clipped.

    >>> cell_box("top left"), cell_box("center")
    ([0, 0, 417, 417], [250, 250, 750, 750])
    """
    cell = parse_cell(name)
    if cell is None:
        raise ValueError(f"{name!r} is not a grid cell; expected one of {', '.join(CELL_NAMES)}")
    row, col = divmod(CELL_NAMES.index(cell), 3)
    x0, x1 = col * 1000 / 3 - CELL_PAD, (col + 1) * 1000 / 3 + CELL_PAD
    y0, y1 = row * 1000 / 3 - CELL_PAD, (row + 1) * 1000 / 3 + CELL_PAD
    return [round(max(0.0, x0)), round(max(0.0, y0)), round(min(1000.0, x1)), round(min(1000.0, y1))]


def cell_of_point(x: float, y: float, width: float, height: float) -> str:
    """The cell (by the unpadded thirds) holding pixel (x, y) of a width x height frame.

    >>> cell_of_point(40, 30, 320, 240), cell_of_point(160, 120, 320, 240), cell_of_point(319, 239, 320, 240)
    ('top left', 'center', 'bottom right')
    """
    col = min(2, max(0, int(3 * x / width)))
    row = min(2, max(0, int(3 * y / height)))
    return CELL_NAMES[row * 3 + col]


def cell_of_box(box: Sequence[float], width: float, height: float) -> str:
    """The cell of a pixel box's centre."""
    return cell_of_point((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, width, height)


def cell_holding(box_px: Sequence[float], width: float, height: float) -> str:
    """The cell whose (padded) box holds the largest share of a pixel box; ties go to the cell whose centre is
    nearest the box's centre. What the oracle asks for, and what a student should learn to name.

    >>> cell_holding([10, 10, 40, 40], 320, 240), cell_holding([140, 100, 180, 140], 320, 240)
    ('top left', 'center')
    """
    cx, cy = (box_px[0] + box_px[2]) / 2 / width * 1000, (box_px[1] + box_px[3]) / 2 / height * 1000

    def score(name: str) -> tuple[float, float]:
        b = to_pixels(cell_box(name), width, height)
        mx, my = (b[0] + b[2]) / 2 / width * 1000, (b[1] + b[3]) / 2 / height * 1000
        return round(box_inside(box_px, b), 6), -((mx - cx) ** 2 + (my - cy) ** 2)

    return max(CELL_NAMES, key=score)


def cell_argument(name: str) -> str:
    """A cell as a tool call's ``region`` value is written in training data: the name after one space.

    The embedded tiny student's word tokenizer has the cell words only with their leading space (" bottom"), the
    form prose and the pretraining's answers use; right after the JSON quote a bare "bottom" falls apart into
    pieces the base never wrote ('bo', 'tt', 'om'), so the region would be a word it must learn from scratch
    (measured: the SFT students then chose a near-constant cell whatever their think said). With the space, the
    region repeats the think's tokens exactly. Every parser strips it (``parse_cell``).

    >>> cell_argument("Top-Left")
    ' top left'
    """
    cell = parse_cell(name)
    if cell is None:
        raise ValueError(f"{name!r} is not a grid cell; expected one of {', '.join(CELL_NAMES)}")
    return " " + cell


def region_box(region: str | Sequence[float]) -> list[float]:
    """A crop region as a 0-1000 box: a cell name becomes its box, a box is returned as a list (not checked)."""
    if isinstance(region, str) and parse_cell(region) is not None:
        return [float(v) for v in cell_box(region)]
    return [float(v) for v in region]  # type: ignore[union-attr]


def box_inside(box_px: Sequence[float], region_px: Sequence[float]) -> float:
    """Share of a pixel box's area that lies inside a pixel region (1.0 = all of it, 0.0 = none or empty box).

    >>> box_inside([10, 10, 20, 20], [0, 0, 15, 100])
    0.5
    """
    w, h = box_px[2] - box_px[0], box_px[3] - box_px[1]
    if w <= 0 or h <= 0:
        return 0.0
    iw = max(0.0, min(box_px[2], region_px[2]) - max(box_px[0], region_px[0]))
    ih = max(0.0, min(box_px[3], region_px[3]) - max(box_px[1], region_px[1]))
    return iw * ih / (w * h)


def to_pixels(box_1000: Sequence[float], width: int, height: int) -> list[float]:
    """A 0-1000 box -> pixels of a width x height frame (floats, not clipped)."""
    return [box_1000[0] / 1000 * width, box_1000[1] / 1000 * height, box_1000[2] / 1000 * width,
            box_1000[3] / 1000 * height]


def region_text() -> str:
    """The cells as the system prompt names them.

    >>> region_text()[:40]
    '"top left", "top", "top right", "left", '
    """
    return ", ".join(f'"{c}"' for c in CELL_NAMES)
