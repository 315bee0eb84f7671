"""The main job: `seekerlite demo --quick` runs every step (toy world -> pipeline -> SFT -> GRPO -> evaluation) and
its report holds every figure and table it promises; every step runs in the one env of the demo config (each run
folder's run.json says so); a second run reuses the finished steps."""

import json
import re
from dataclasses import asdict

import pytest

from seekerlite.cli import main
from seekerlite.report import REPORT_FIGURES
from seekerlite.runs import read_run

pytestmark = pytest.mark.slow

STEPS = ["toyworld", "figures", "episodes", "pipeline", "sft", "grpo", "eval"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()  # what a user's terminal shows (stdout and stderr: progress bars, warnings)
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        assert main(["demo", "--quick", "--out", str(out)]) == 0
    with open(out.parent / f"{out.name}_printed.txt", "w", newline="") as fh:
        fh.write(printed.getvalue())
    return out


def test_the_terminal_stays_calm(demo_run):
    """One line per step and per training phase, no raw Trainer dicts, no deprecation noise: < 60 lines in all."""
    with open(demo_run.parent / f"{demo_run.name}_printed.txt", newline="") as fh:  # keep the carriage returns
        printed = fh.read()
    lines = printed.rstrip("\n").split("\n")  # a progress bar redraws with carriage returns: one line on a terminal
    assert len(lines) < 60, printed
    assert "{'loss'" not in printed and "FutureWarning" not in printed and "gemm_4bit" not in printed
    assert "too small to learn anything" in printed  # --quick says plainly what it is
    assert (demo_run / "sft" / "train_log.jsonl").stat().st_size > 0  # the full per-step log is in the run folder


def test_every_step_ran_and_left_its_outputs(demo_run):
    assert sorted(p.name for p in (demo_run / ".steps").iterdir()) == sorted(STEPS)
    cfg = json.loads((demo_run / "demo_config.json").read_text())
    assert cfg["quick"] is True and cfg["output_dir"] == str(demo_run) and cfg["student"]["model_id"] == "tiny-pretrained"
    runs = {step: read_run(demo_run / step, levels=0) for step in ("pipeline", "sft", "grpo")}
    assert {k: r.kind for k, r in runs.items()} == {"pipeline": "pipeline", "sft": "sft", "grpo": "grpo"}
    assert all(asdict(r.env) == cfg["env"] for r in runs.values())  # one env: pipeline episodes, SFT, GRPO
    assert runs["sft"].weights == "." and runs["grpo"].parent == str(demo_run / "sft")
    assert (demo_run / "pipeline" / "sft" / "sft.jsonl").stat().st_size > 0
    assert (demo_run / "pipeline" / "rl.jsonl").stat().st_size > 0
    sft = json.loads((demo_run / "sft" / "summary.json").read_text())
    assert sft["steps"] > 0 and sft["loss_last"] < sft["loss_first"]  # two epochs already lower the loss
    grpo = json.loads((demo_run / "grpo" / "summary.json").read_text())
    hist = json.loads((demo_run / "grpo" / "log_history.json").read_text())
    assert grpo["config"]["student"]["model_id"] == str(demo_run / "sft")  # GRPO starts from the SFT weights
    assert sum("rewards/accuracy/mean" in h for h in hist) == grpo["config"]["max_steps"]
    summaries = json.loads((demo_run / "eval" / "summaries.json").read_text())
    assert set(summaries) == {"oracle", "no-tool guess", "base", "SFT no tools", "SFT", "GRPO no tools", "GRPO",
                              "GRPO, oracle's crop"}
    assert summaries["GRPO, oracle's crop"]["overall"]["mean_tool_calls"] >= 1  # the oracle's crop ran first
    assert summaries["oracle"]["overall"]["accuracy"] == 1.0  # the ceiling is exact on the toy world
    for name in ("no-tool guess", "SFT no tools", "GRPO no tools"):  # tools off: no call ever runs
        assert summaries[name]["overall"]["mean_tool_calls"] == 0
    tasks = {json.loads(line)["task"] for line in next((demo_run / "eval").glob("toy-*/samples.jsonl")).open()}
    assert tasks <= set(cfg["question_families"]) and tasks  # the held-out world asks the families that need tools
    assert json.loads((demo_run / "sft" / "run.json").read_text())["config"]["no_tool_share"] == cfg["no_tool_share"]
    sft_eval = json.loads((demo_run / "eval" / "SFT" / "results.json").read_text())
    assert sft_eval["policy"] == str(demo_run / "sft") and sft_eval["config"]["env"] == cfg["env"]  # the run folder
    assert sft_eval["scoring_rule"] == "seekerlite"


def test_report_holds_every_figure_and_table(demo_run):
    html = (demo_run / "report.html").read_text()
    md = (demo_run / "report.md").read_text()
    for _, name, caption in REPORT_FIGURES:
        assert (demo_run / "figures" / name).stat().st_size > 5_000, name  # a real picture, not an empty canvas
        assert f"figures/{name}" in md and caption in md
        assert f"figures/{name}" not in html  # inlined: the HTML is one self-contained file
    assert len(re.findall(r'src="data:image/png;base64,', html)) == len(REPORT_FIGURES)
    for section in ("## Data pipeline", "## SFT", "## GRPO", "## Evaluation"):
        assert section in md
    assert "| stage1_filter |" in md and "| GRPO |" in md and "after GRPO" in md
    assert html.count("<table>") >= 4  # episodes, funnel counts, GRPO rewards, evaluation (overall + by form)


def test_second_run_reuses_finished_steps(demo_run, capsys):
    before = (demo_run / "sft" / "summary.json").read_text()
    assert main(["demo", "--quick", "--out", str(demo_run)]) == 0
    printed = capsys.readouterr().out
    assert all(f"[demo] {s}: done before, reused" in printed for s in STEPS)
    assert (demo_run / "sft" / "summary.json").read_text() == before


def test_a_folder_from_other_settings_is_refused_untouched(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "demo_config.json").write_text(json.dumps({"output_dir": str(out), "seed": 123}))
    (out / "keep.txt").write_text("earlier work")
    assert main(["demo", "--quick", "--out", str(out)]) == 2  # a clear error, not a crash
    assert "holds a demo run with other settings" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["demo_config.json", "keep.txt"]  # nothing run, nothing lost
    assert json.loads((out / "demo_config.json").read_text())["seed"] == 123


def test_the_default_demo_is_the_pretrained_students_own_preset():
    """``DemoConfig()`` (what ``seekerlite demo`` runs) equals ``for_model`` of its own student, and GRPO starts the
    pretrained tiny base at the learning rate ``GRPORunConfig.for_model`` gives it (not the random base's 1e-3)."""
    from seekerlite.config import TINY_PRETRAINED
    from seekerlite.demo import DemoConfig
    from seekerlite.train.grpo import PRETRAINED_TINY_LR, GRPORunConfig

    assert DemoConfig() == DemoConfig.for_model(TINY_PRETRAINED)
    assert DemoConfig().grpo_lr == GRPORunConfig.for_model(TINY_PRETRAINED).learning_rate == PRETRAINED_TINY_LR
    assert DemoConfig.for_model("tiny-random").grpo_lr == GRPORunConfig().learning_rate == 1e-3
