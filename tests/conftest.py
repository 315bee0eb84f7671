"""Shared fixtures: real sample data paths and a small toy-world dataset built once per test session."""

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:  # property tests draw the same examples on every run (set HYPOTHESIS_PROFILE=explore to search anew)
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a dev extra
    pass
ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = ROOT / "sample_data"


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    return SAMPLE_DATA / "videos" / "vtest.mp4"


@pytest.fixture(scope="session")
def real_samples():
    from seekerlite.schema import load_jsonl

    path = SAMPLE_DATA / "annotations" / "vtest_samples.jsonl"
    return load_jsonl(path), path.parent


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    """(samples, base_dir) of a 3-clip toy world, seed 0."""
    from seekerlite.schema import load_jsonl
    from seekerlite.toyworld import ToyWorldConfig, generate_dataset

    out = tmp_path_factory.mktemp("toy")
    path = generate_dataset(out, n_clips=3, seed=0, config=ToyWorldConfig(seed=0))
    return load_jsonl(path), path.parent


def execute_notebook(name: str, timeout: int = 600) -> "object":
    """Execute notebooks/<name> headless (a fresh kernel, cwd = notebooks/) and return the executed notebook.

    The committed notebook is left untouched (outputs stay out of git). A failing cell raises
    nbclient's CellExecutionError with the cell's source and traceback.
    """
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    saved = os.environ.pop("MPLBACKEND", None)  # the kernel must use its inline backend to show figures
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    return nb


def notebook_text(nb) -> str:
    """Everything an executed notebook printed (its code cells' text outputs), joined."""
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def notebook_images(nb) -> int:
    """How many PNG outputs a executed notebook produced (figures that were actually drawn)."""
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@contextmanager
def fake_openai_server(reply):
    """A local stand-in for an OpenAI-compatible chat endpoint: ``reply(body) -> assistant message dict`` answers
    each POST Yields (base URL such as http://127.0.0.1:PORT/v1, the list of request bodies received)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            data = json.dumps({"choices": [{"message": reply(body)}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", bodies
    finally:
        server.shutdown()


def pytest_configure(config):
    config.addinivalue_line("markers", "hostile: the adversarial suite (tests/test_hostile_*.py; `pytest -m hostile`)")


def pytest_collection_modifyitems(config, items):
    """Every test in tests/test_hostile_*.py is marked ``hostile``."""
    for item in items:
        if item.path.name.startswith("test_hostile_"):
            item.add_marker(pytest.mark.hostile)


def pytest_terminal_summary(terminalreporter):
    """How many hostile inputs the adversarial suite (tests marked ``hostile``) tried in this session: its test
    cases (each parametrized case is one input) plus the examples its property tests drew."""
    import sys

    ran = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
           if "hostile" in getattr(r, "keywords", {}) and getattr(r, "when", "call") == "call"]
    common = sys.modules.get("hostile_common")
    drawn = sum(common.TRIED.values()) if common is not None else 0
    if ran or drawn:
        cases = len({r.nodeid for r in ran})
        by_kind = ", ".join(f"{k} {v}" for k, v in sorted(common.TRIED.items())) if drawn else ""
        terminalreporter.write_line(f"hostile cases tried: {cases + drawn} ({cases} test cases + {drawn} "
                                    f"property-test examples{': ' + by_kind if by_kind else ''})")
