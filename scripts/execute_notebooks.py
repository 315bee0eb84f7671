"""Execute the course notebooks and commit them WITH their outputs, small: what GitHub and Colab show.

    .venv/bin/python scripts/execute_notebooks.py                  # every notebook in notebooks/, in order
    .venv/bin/python scripts/execute_notebooks.py 03_sft 04_grpo   # some of them
    .venv/bin/python scripts/execute_notebooks.py --check          # only the header cells (badge, install)

For each notebook it
  1. sets the header: an "Open in Colab" badge in the first (markdown) cell, and the install cell (the second
     cell): nothing to do inside the repository's .venv; elsewhere (Colab) a shallow clone of the repository and a
     pip install of that clone (the notebooks read the sample data and ../runs next to them);
  2. executes it top to bottom in a fresh kernel (cwd notebooks/, as the tests do);
  3. shrinks the outputs: figures downscaled to at most MAX_PNG_WIDTH pixels wide (palette PNG, or JPEG for frames),
     carriage-return progress bars reduced to their last state, long text outputs cut in the middle;
  4. records, in each code cell's metadata, the SHA-256 of the source it ran (``seekerlite.source_sha256``), so
     tests/test_notebooks_outputs.py can tell committed outputs from stale ones.
Notebooks 03-05 read the runs of earlier notebooks (../runs/03_sft ...): run them in order, as this script does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
REPO = "seekerlite/seekerlite"  # owner/name on GitHub: the badge and the Colab install clone it
BRANCH = "main"
MAX_PNG_WIDTH = 800  # pixels: figures are downscaled to this width
JPEG_QUALITY = 80  # photo-like figures (real video frames) are stored as JPEG when that is much smaller
MAX_TEXT_LINES = 60  # per text output; longer ones keep their first and last lines
BADGE_PREFIX = "[![Open In Colab]"
INSTALL_MARK = "# Install"


def colab_badge(name: str) -> str:
    """The markdown line of the "Open in Colab" badge of notebooks/<name>."""
    url = f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/notebooks/{name}"
    return f"{BADGE_PREFIX}(https://colab.research.google.com/assets/colab-badge.svg)]({url})"


INSTALL_CELL = f'''# Install: inside the repository's .venv (`make test`, `make demo`) seekerlite is already importable and this
# cell does nothing. Elsewhere (Colab, a fresh kernel) it clones the repository next to this notebook and installs
# that clone with pip (the notebooks read sample_data/ and ../runs/ next to them); ~2 minutes on Colab.
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("seekerlite") is None:
    if not os.path.isdir("seekerlite-repo"):
        subprocess.check_call(["git", "clone", "-q", "--depth", "1", "https://github.com/{REPO}", "seekerlite-repo"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "-e", "./seekerlite-repo"])
    sys.path.insert(0, os.path.abspath("seekerlite-repo"))  # this kernel sees the package without a restart
    os.chdir("seekerlite-repo/notebooks")                   # relative paths (../runs, ../sample_data) as in the repo'''


def source_sha(source: str) -> str:
    """SHA-256 of a code cell's source (what the executed outputs belong to)."""
    return hashlib.sha256(source.encode()).hexdigest()


def set_header(nb, name: str) -> bool:
    """Badge in cell 0, install cell as cell 1 (replacing an older install cell); True when anything changed."""
    import nbformat

    changed = False
    first = nb.cells[0]
    lines = [ln for ln in first.source.splitlines() if not ln.startswith(BADGE_PREFIX)]
    title, rest = lines[0], lines[1:]
    src = "\n".join([title, "", colab_badge(name), *([] if rest and rest[0].strip() else [""]), *rest]).rstrip()
    src = re.sub(r"\n{3,}", "\n\n", src)
    if src != first.source:
        first.source, changed = src, True
    second = nb.cells[1] if len(nb.cells) > 1 else None
    if second is not None and second.cell_type == "code" and second.source.startswith(INSTALL_MARK):
        if second.source != INSTALL_CELL:
            second.source, changed = INSTALL_CELL, True
    else:
        nb.cells.insert(1, nbformat.v4.new_code_cell(INSTALL_CELL))
        changed = True
    return changed


def _carriage(text: str) -> str:
    """Text as a terminal shows it: within each line only what follows the last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


BAR = re.compile(r"^[^\n|]*\d+%\|.*\|")  # a tqdm progress bar's text ("SFT:  40%|####  | 80/200 [...]")


def _merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of one name joined into one, as a terminal shows them: a chunk that redraws a
    progress bar (starts with a carriage return, or is a bar continuing an unfinished line) replaces that line."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if out.output_type == "stream" and prev is not None and prev.output_type == "stream" \
                and prev.name == out.name:
            text = out.text
            if not prev.text.endswith("\n") and BAR.match(text.lstrip("\r")):
                prev.text = prev.text.rsplit("\n", 1)[0] + "\n" if "\n" in prev.text else ""
                text = text.lstrip("\r")
            prev.text += text
            continue
        merged.append(out)
    return merged


def _cut(text: str) -> str:
    lines = text.split("\n")
    if len(lines) <= MAX_TEXT_LINES:
        return text
    keep = MAX_TEXT_LINES // 2
    return "\n".join(lines[:keep] + [f"... ({len(lines) - 2 * keep} lines cut) ..."] + lines[-keep:])


def shrink_png(b64: str) -> tuple[str, str]:
    """(mime type, base64) of a PNG figure downscaled to MAX_PNG_WIDTH wide: a palette PNG, or a JPEG (quality
    JPEG_QUALITY) when the figure is photo-like and the PNG would be much larger (frames of real video)."""
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    if img.width > MAX_PNG_WIDTH:
        img = img.resize((MAX_PNG_WIDTH, round(img.height * MAX_PNG_WIDTH / img.width)), Image.LANCZOS)
    rgb = img.convert("RGB")
    png, jpg = io.BytesIO(), io.BytesIO()
    rgb.quantize(256).save(png, format="PNG", optimize=True)
    rgb.save(jpg, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    if png.tell() > 1.5 * jpg.tell():
        return "image/jpeg", base64.b64encode(jpg.getvalue()).decode()
    return "image/png", base64.b64encode(png.getvalue()).decode()


def shrink_outputs(nb) -> None:
    """Small outputs: figures downscaled, progress bars at their last state, long texts cut, live widgets dropped."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for out in _merge_streams(list(cell.get("outputs", []))):
            if out.output_type == "stream":
                out.text = _cut(_carriage(out.text))
                if not out.text.strip():
                    continue
            elif out.output_type in ("display_data", "execute_result"):
                data = out.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data:
                    continue  # a live progress widget: its saved text is its first state, not what it showed
                if "image/png" in data:
                    mime, small = shrink_png(data.pop("image/png"))
                    data[mime] = small
                if "text/plain" in data and isinstance(data["text/plain"], str):
                    data["text/plain"] = _cut(data["text/plain"])
                if not data:
                    continue
            outs.append(out)
        cell.outputs = outs
    nb.metadata.pop("widgets", None)


SLOW_CELL = 20.0  # seconds: cells slower than this are listed (they should show progress while they run)


def _cell_seconds(execution: dict) -> float | None:
    """Wall seconds of one executed cell, from nbclient's timing metadata."""
    from datetime import datetime

    try:
        t0 = datetime.fromisoformat(execution["iopub.execute_input"])
        t1 = datetime.fromisoformat(execution["shell.execute_reply"])
    except (KeyError, ValueError, AttributeError):
        return None
    return (t1 - t0).total_seconds()


def execute(name: str, timeout: int = 1800) -> float:
    """Execute notebooks/<name> in place (header set, outputs shrunk, sources hashed); returns seconds."""
    import nbformat
    from nbclient import NotebookClient

    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    set_header(nb, name)
    saved = os.environ.pop("MPLBACKEND", None)  # the kernel uses its inline backend: figures become outputs
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    seconds = time.perf_counter() - t0
    shrink_outputs(nb)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.metadata.setdefault("seekerlite", {})["source_sha256"] = source_sha(cell.source)
            took = _cell_seconds(cell.metadata.pop("execution", {}))
            if took is not None and took > SLOW_CELL:
                print(f"  cell {k}: {took:.0f} s  {cell.source.splitlines()[0][:70]}", flush=True)
    nb.metadata.setdefault("seekerlite", {})["executed_seconds"] = round(seconds)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="notebook names (default: all of notebooks/*.ipynb, in order)")
    p.add_argument("--check", action="store_true", help="only set the header cells, execute nothing")
    p.add_argument("--shrink", action="store_true", help="only shrink the committed outputs again, execute nothing")
    a = p.parse_args(argv)
    names = [n if n.endswith(".ipynb") else f"{n}.ipynb" for n in a.names] or sorted(
        p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name in names:
        if a.shrink:
            import nbformat

            nb = nbformat.read(NOTEBOOKS / name, as_version=4)
            shrink_outputs(nb)
            nbformat.write(nb, NOTEBOOKS / name)
            print(f"{name}: {(NOTEBOOKS / name).stat().st_size / 1024:.0f} KiB")
            continue
        if a.check:
            import nbformat

            nb = nbformat.read(NOTEBOOKS / name, as_version=4)
            if set_header(nb, name):
                nbformat.write(nb, NOTEBOOKS / name)
                print(f"{name}: header updated")
            continue
        print(f"{name}: executing ...", flush=True)
        seconds = execute(name)
        size = (NOTEBOOKS / name).stat().st_size
        print(f"{name}: {seconds:.0f} s, {size / 1024:.0f} KiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
