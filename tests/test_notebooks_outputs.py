"""The notebooks as committed: executed, with their outputs, small, not stale, openable in Colab.

scripts/execute_notebooks.py executes them and records the SHA-256 of every code cell's source it ran; a cell
edited afterwards (or never run) fails here until the script runs again. Nothing is executed by these tests.
"""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def _script():
    spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "scripts" / "execute_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SCRIPT = _script()


@pytest.fixture(params=NAMES)
def notebook(request):
    return request.param, nbformat.read(ROOT / "notebooks" / request.param, as_version=4)


def test_every_notebook_opens_in_colab_and_installs_without_a_clone(notebook) -> None:
    name, nb = notebook
    assert SCRIPT.colab_badge(name) in nb.cells[0].source
    install = nb.cells[1].source
    assert install == SCRIPT.INSTALL_CELL and "-e .." not in install and "git" in install


def test_committed_outputs_belong_to_the_committed_code(notebook) -> None:
    name, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    stale = [i for i, c in enumerate(code)
             if c.metadata.get("seekerlite", {}).get("source_sha256") != SCRIPT.source_sha(c.source)]
    assert not stale, f"{name}: code cells {stale} changed since the notebook was executed; run " \
                      f"scripts/execute_notebooks.py {name}"
    counts = [c.execution_count for c in code]
    assert None not in counts and counts == sorted(counts), f"{name}: not executed top to bottom in one kernel"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: committed with an error output"
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2, f"{name}: most cells show nothing"


def test_outputs_are_small(notebook) -> None:
    from PIL import Image

    name, nb = notebook
    assert (ROOT / "notebooks" / name).stat().st_size < 3 * 2**20, name
    for c in nb.cells:
        for o in c.get("outputs", []):
            for mime in ("image/png", "image/jpeg"):
                img = o.get("data", {}).get(mime)
                if img:
                    assert Image.open(io.BytesIO(base64.b64decode(img))).width <= SCRIPT.MAX_PNG_WIDTH
            if o.output_type == "stream":
                assert "\r" not in o.text  # progress bars kept at their last state only


def test_progress_bars_are_kept_at_their_last_state() -> None:
    out = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [out("stream", name="stderr", text="warning: x\n"),
                    *[out("stream", name="stderr", text=f"\rSFT:  {k * 50}%|#    | {k}/2 [00:0{k}<00:01]")
                      for k in range(3)],
                    out("stream", name="stdout", text="done\n")]
    nb = nbformat.v4.new_notebook(cells=[cell])
    SCRIPT.shrink_outputs(nb)
    texts = [(o.name, o.text) for o in nb.cells[0].outputs]
    assert texts == [("stderr", "warning: x\nSFT:  100%|#    | 2/2 [00:02<00:01]"), ("stdout", "done\n")]
