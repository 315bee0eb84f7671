"""The package's layering, enforced: no module imports one above it, pipeline/train/evaluate are siblings that do
not import each other, and no module reaches into another's private names (docs/architecture.md draws it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "seekerlite"

# rank of each module or package (its dotted name after "seekerlite."); a module may import only lower ranks,
# or modules of its own package. Keep docs/architecture.md in step with this table.
LAYERS: dict[str, int] = {
    "strictjson": -1,                                                   # bounded JSON, typed records from JSON
    "": 0, "schema": 0, "cliargs": 0, "paths": 0, "regions": 0, "runlock": 0,  # data: records, generic helpers
    "video_backends": 1, "config": 1, "grammar": 1, "images": 1,
    "video": 2, "marks": 2, "judge": 2, "protocol": 2, "runs": 2,
    "toyworld": 3, "v2p": 3, "tracking": 3, "env": 3, "viz": 3, "frames": 3,         # data sources; the environment
    "data": 4, "trajectory": 4, "models": 4, "budget": 4,               # samples, episodes; the student; token budgets
    "plan": 5,                                                          # memory planner (uses budget, models)
    "policies": 5,                                                      # policies and the episode loop
    "pipeline": 6, "train": 6, "evaluate": 6,                           # siblings over policies
    "report": 7, "integrations": 7,                                     # over the siblings: the report; bridges to other engines (verl reuses train.rewards)
    "demo": 8, "cli": 9,                                                # the application
}
SIBLINGS = ("pipeline", "train", "evaluate")


def _unit(module: str) -> str:
    """The LAYERS key of a dotted module name ("seekerlite.train.sft" -> "train")."""
    parts = module.split(".")[1:]
    return parts[0] if parts else ""


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out.append((name, path))
    return out


def _imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported seekerlite module, names taken from it, line) for every import in a file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("seekerlite")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("seekerlite"):
                found.append((base, [a.name for a in node.names], node.lineno))
    return found


MODULES = _modules()


def test_every_module_has_a_layer():
    missing = sorted({_unit(m) for m, _ in MODULES} - set(LAYERS))
    assert not missing, f"add these to LAYERS (and docs/architecture.md): {missing}"


def layering_problems(module: str, path: Path) -> list[str]:
    """What breaks the layering in one file (empty when nothing does)."""
    mine = _unit(module)
    problems = []
    for target, names, line in _imports(path, module):
        theirs = _unit(target)
        if theirs not in LAYERS:
            problems.append(f"line {line}: {target} has no layer")
            continue
        same_package = theirs == mine and mine != ""
        if not same_package and LAYERS[theirs] >= LAYERS[mine] and not (mine == "" or theirs == ""):
            problems.append(f"line {line}: imports {target} (layer {LAYERS[theirs]}) from layer {LAYERS[mine]}")
        if mine in SIBLINGS and theirs in SIBLINGS and theirs != mine:
            problems.append(f"line {line}: {mine} imports its sibling {theirs}")
        if not same_package:
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private:
                problems.append(f"line {line}: imports private {private} from {target}")
    return problems


@pytest.mark.parametrize("module,path", MODULES, ids=[m for m, _ in MODULES])
def test_no_upward_sibling_or_private_imports(module, path):
    problems = layering_problems(module, path)
    assert not problems, f"{module}:\n" + "\n".join(problems)


def test_the_checker_catches_each_kind_of_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from seekerlite.evaluate import evaluate\n"          # a sibling
                   "def f():\n    from seekerlite.demo import run_demo\n"  # upward, lazily
                   "from seekerlite.env import _private\n"                 # a private name
                   "from .store import drop\n")                            # relative, same package: fine
    problems = layering_problems("seekerlite.pipeline.x", bad)
    assert len(problems) == 4 and any("sibling evaluate" in p for p in problems)
    assert any("seekerlite.demo" in p for p in problems) and any("_private" in p for p in problems)
