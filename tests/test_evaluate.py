"""Evaluation: metrics on a hand-computed example, the V2P-Bench loader on a fixture written from its documented
fields, the policies as baselines, the files written (and the scoring rule they name), and `seekerlite eval`,
which evaluates a run folder in the environment its run.json records."""

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seekerlite.cli import main
from seekerlite.config import EnvConfig, StudentConfig
from seekerlite.data import load_samples
from seekerlite.evaluate import (
    EpisodeRecord, EvalConfig, bootstrap_ci, comparison_table, evaluate, markdown_table, plot_accuracy,
    records_from_responses, summarize, write_results,
)
from seekerlite.evaluate.cli import main_eval
from seekerlite.policies import make_policy
from seekerlite.schema import SchemaError
from seekerlite.trajectory import Trajectory
from seekerlite.v2p import infer_prompt_type, is_v2p_file, length_bucket, load_v2p, parse_options, read_v2p_records

V2P = Path(__file__).parent / "fixtures" / "v2p"
V2P_FILE = V2P / "dataset_info.jsonl"


# ------------------------------------------------------------------------------------------ metrics, by hand

def _records():
    """8 episodes. Correct: 1, 3, 4, 7 -> 4/8 overall.
    prompt type: rectangle {1 ok, 2, 3 ok} = 2/3, arrow {4 ok, 5, 6} = 1/3, point {7 ok, 8} = 1/2
    task:        attribute {1 ok, 2, 7 ok} = 2/3, temporal {3 ok, 4 ok} = 2/2, counting {5, 6, 8} = 0/3
    dimension:   OA {1 ok, 2, 7 ok} = 2/3, HA {4 ok, 5, 6} = 1/3, none {3 ok, 8} = 1/2
    """
    R = EpisodeRecord
    return [
        R("s1", True, "rectangle", "attribute", "OA", answer="A", n_tool_calls=2, n_frames=8),
        R("s2", False, "rectangle", "attribute", "OA", answer="B", n_tool_calls=1, n_frames=4),
        R("s3", True, "rectangle", "temporal", "none", form="oe", answer="red", n_tool_calls=3, n_frames=12),
        R("s4", True, "arrow", "temporal", "HA", answer="C", n_tool_calls=0, n_frames=0),
        R("s5", False, "arrow", "counting", "HA", answer=None, n_tool_calls=5, n_frames=20, finish_reason="max_turns"),
        R("s6", False, "arrow", "counting", "HA", answer="D", n_tool_calls=1, n_frames=4),
        R("s7", True, "point", "attribute", "OA", answer="A", n_tool_calls=1, n_frames=4),
        R("s8", False, "point", "counting", None, answer=None, finish_reason="error", error="VideoError: x"),
    ]


def test_summarize_matches_hand_computed_example():
    s = summarize(_records(), n_bootstrap=500, seed=0)
    o = s["overall"]
    assert (o["n"], o["n_correct"], o["accuracy"]) == (8, 4, 0.5)
    assert o["answered"] == 6 / 8
    assert o["mean_tool_calls"] == pytest.approx(13 / 8) and o["mean_frames"] == pytest.approx(52 / 8)
    acc = {g: {k: (v["n_correct"], v["n"]) for k, v in s[f"by_{g}"].items()} for g in ("prompt_type", "task", "dimension")}
    assert acc["prompt_type"] == {"rectangle": (2, 3), "arrow": (1, 3), "point": (1, 2)}
    assert acc["task"] == {"attribute": (2, 3), "temporal": (2, 2), "counting": (0, 3)}
    assert acc["dimension"] == {"OA": (2, 3), "HA": (1, 3), "none": (1, 2)}  # None counts as "none"
    assert s["by_form"]["oe"]["accuracy"] == 1.0 and s["by_form"]["mc"]["n"] == 7
    assert "by_length" not in s  # None for every record: left out
    assert s["by_prompt_type"]["arrow"]["mean_frames"] == pytest.approx(8.0)
    assert s["by_task"]["temporal"]["ci_low"] == s["by_task"]["temporal"]["ci_high"] == 1.0  # all right: no spread
    assert s["by_task"]["counting"]["ci_high"] == 0.0
    for group in [s["overall"], *s["by_prompt_type"].values(), *s["by_task"].values()]:
        assert 0.0 <= group["ci_low"] <= group["accuracy"] <= group["ci_high"] <= 1.0


def test_bootstrap_interval_is_right_and_seeded():
    lo, hi = bootstrap_ci([1, 0] * 4, n_bootstrap=2000, seed=0)  # p = 0.5, n = 8: normal approx 0.5 +- 0.346
    assert lo == pytest.approx(0.154, abs=0.05) and hi == pytest.approx(0.846, abs=0.05)
    x = [1] * 10 + [0] * 90  # p = 0.1, n = 100: 0.1 +- 0.059
    lo, hi = bootstrap_ci(x, n_bootstrap=4000, seed=1)
    assert lo == pytest.approx(0.041, abs=0.02) and hi == pytest.approx(0.159, abs=0.02)
    assert bootstrap_ci(x, 500, seed=3) == bootstrap_ci(x, 500, seed=3)  # deterministic for a seed
    assert bootstrap_ci(x, 500, seed=3) != bootstrap_ci(x, 500, seed=4)
    assert all(math.isnan(v) for v in bootstrap_ci([], 100)) and all(math.isnan(v) for v in bootstrap_ci(x, 0))
    a, b = summarize(_records(), 300, seed=7), summarize(_records(), 300, seed=7)
    assert a == b


def test_tables_and_plots():
    s = summarize(_records(), n_bootstrap=200)
    table = markdown_table(s, "prompt_type")
    assert table.count("\n") == 4 and "| arrow | 3 | 33.3 |" in table
    assert "| all | 8 | 50.0 |" in markdown_table(s)
    both = {"a": s, "b": summarize(_records()[:4], n_bootstrap=200)}
    cmp = comparison_table(both, "task")
    assert "| b | 50.0 (2) | - | 100.0 (2) |" in cmp  # attribute, counting, temporal; b has no counting episode
    fig = plot_accuracy(both, "prompt_type")
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 2 * 3
    assert [round(b.get_height(), 3) for b in bars[:3]] == [0.333, 0.5, 0.667]  # arrow, point, rectangle


# ------------------------------------------------------------------------------------------ V2P-Bench format

@pytest.mark.parametrize("text, question, options, trailer", [
    ("Who?\nA: cat\nB: dog\nSelect the best option.", "Who?", ["cat", "dog"], "Select the best option."),
    ("Who?\nA. cat\nB. dog\nC. cow", "Who?", ["cat", "dog", "cow"], ""),
    ("Who is\nmarked?\n(A) cat\n(B) dog", "Who is\nmarked?", ["cat", "dog"], ""),
    ("Who?\nA) cat\nB) dog", "Who?", ["cat", "dog"], ""),
    ("Which way? (A) left (B) right (C) up", "Which way?", ["left", "right", "up"], ""),
    ("Who?\nA. cat\nC. dog", "Who?\nA. cat\nC. dog", None, ""),  # B missing: not options
    ("How many people walk by?", "How many people walk by?", None, ""),
])
def test_parse_options(text, question, options, trailer):
    assert parse_options(text) == (question, options, trailer)


@pytest.mark.parametrize("question, kind", [
    ("What does the person in the red bounding box do?", "rectangle"),
    ("When the video ends, what is under the cup in the detection frame?", "rectangle"),
    ("What is the target in the green box?", "rectangle"),
    ("What's under the cup that the arrow is pointing to?", "arrow"),
    ("What does the circled person do?", "ellipse"),
    ("What does the person in the blue ellipse do?", "ellipse"),
    ("What color is the clothes of the person in the triangle?", "triangle"),
    ("What is the target with yellow mask outline?", "mask_contour"),
    ("What is the man marked with <1> doing?", "set_of_mark"),
    ("Explain the role of the peeler labeled 1 and the knife labeled 2.", "set_of_mark"),
    ("What is the function of graffiti item?", "scribble"),
    ("What is the target pointed by a blue point?", "point"),
    ("Which statement describes the motion of the selected object?", None),
])
def test_infer_prompt_type(question, kind):
    assert infer_prompt_type(question) == kind


def test_load_v2p_fixture():
    samples = load_v2p(V2P_FILE)
    assert [s.answer for s in samples] == ["B", "D", "B"]
    assert [s.dimension for s in samples] == ["HA", "CR", "OD"]  # 2, 5, 3
    assert [s.extra["prompt_type"] for s in samples] == ["rectangle", "arrow", "unknown"]
    assert [s.visual_prompt.prompt_type for s in samples] == ["rectangle", "arrow", "other"]
    assert samples[0].visual_prompt.timestamp is None and samples[0].visual_prompt.frame_index is None
    s0 = samples[0]
    assert s0.question == "What is the person in the red bounding box carrying?"
    assert s0.options == ["A black backpack", "A white sheet of paper", "An umbrella", "Nothing, his hands are empty"]
    assert s0.answer_text == "A white sheet of paper" and s0.is_mc
    assert s0.extra["v2p"]["instruction"].startswith("Select the best option")
    assert s0.extra["length"] == "short" and s0.extra["prompt_time_known"] is False
    assert (V2P / s0.video_path).is_file() and (V2P / s0.visual_prompt.image_path).is_file()
    assert len(samples[2].extra["v2p"]["frame_paths"]) == 2  # a list of marked frames: first one is the prompt
    assert len({s.id for s in samples}) == 3  # ids unique although video_id repeats
    assert is_v2p_file(V2P_FILE) and not is_v2p_file(V2P.parent.parent.parent / "sample_data/annotations/vtest_samples.jsonl")
    assert length_bucket(100) == "short" and length_bucket(600) == "medium" and length_bucket(4000) == "long"


def test_v2p_prompt_frame_reaches_the_model_and_can_be_located():
    from seekerlite.env import VideoSeekerEnv, opening_messages

    samples = load_v2p(V2P_FILE, locate_prompt_frames=True)
    assert [s.visual_prompt.frame_index for s in samples] == [10, 5, 25]  # the clip frames the jpgs were made from
    assert samples[0].visual_prompt.timestamp == pytest.approx(1.0) and samples[0].extra["prompt_time_known"]
    env = VideoSeekerEnv()
    env.reset(sample=samples[1], base_dir=V2P)
    jpg = np.asarray(Image.open(V2P / samples[1].visual_prompt.image_path).convert("RGB"))
    assert np.array_equal(np.asarray(env.prompt_image), jpg)  # the marked jpg itself, not a re-rendered frame
    shown = env.view_visual_prompt()
    assert np.array_equal(np.asarray(shown[1]["image"]), jpg)
    user = opening_messages(env)[-1]["content"]
    text = "\n".join(p["text"] for p in user if p["type"] == "text")
    assert "A. He sits down on the grass" in text and "Select the best option" not in text


def test_v2p_loader_variants_and_errors(tmp_path):
    records = read_v2p_records(V2P_FILE)
    as_list = tmp_path / "v2p.json"
    as_list.write_text(json.dumps(records, indent=1))
    a = load_v2p(as_list, video_root=V2P / "videos", frame_root=V2P / "frames")
    assert [s.options for s in a] == [s.options for s in load_v2p(V2P_FILE)]
    assert Path(a[0].video_path).is_absolute()  # roots outside the file's folder: absolute paths
    samples, base = load_samples(as_list, video_root=str(V2P / "videos"), frame_root=str(V2P / "frames"))
    assert len(samples) == 3 and base == tmp_path
    with pytest.raises(FileNotFoundError, match="video_root"):
        load_v2p(as_list)  # no videos/ next to it
    assert len(load_v2p(as_list, check_files=False)) == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({k: v for k, v in records[0].items() if k != "frame_path"}) + "\n")
    with pytest.raises(SchemaError, match="frame_path"):
        load_v2p(bad)
    bad.write_text(json.dumps({**records[0], "answer": "F"}) + "\n")
    with pytest.raises(SchemaError, match="record 1"):
        load_v2p(bad, check_files=False)


def test_scoring_a_v2p_response_file(tmp_path):
    """V2P-Bench's own rule: the response's first character is the letter (keys: B, D, B)."""
    responses = ["B", "The answer is (D).", " b) a white sheet"]
    path = tmp_path / "model.jsonl"
    path.write_text("".join(json.dumps({**r, "response": x}) + "\n" for r, x in zip(read_v2p_records(V2P_FILE), responses)))
    recs = records_from_responses(path)
    assert [r.correct for r in recs] == [True, False, True]  # the right letter later in a sentence does not count
    assert [r.answer for r in recs] == ["B", None, "B"]
    assert [r.finish_reason for r in recs] == ["answer", "no_action", "answer"]
    other = records_from_responses(_responses(tmp_path, ["<answer>B</answer>", "E", "Bb"]))
    assert [r.answer for r in other] == [None, None, "B"]  # a tag, a letter past the options, a first letter
    out = tmp_path / "out"
    assert main_eval(["--responses", str(path), "--out", str(out), "--n-bootstrap", "50"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["overall"]["n_correct"] == 2 and res["summary"]["by_dimension"]["CR"]["accuracy"] == 0.0
    assert res["scoring_rule"] == "v2p-first-char" and "first character" in res["scoring"]
    assert "`v2p-first-char`" in (out / "results.md").read_text()


def _responses(tmp_path, responses) -> Path:
    path = tmp_path / "more.jsonl"
    path.write_text("".join(json.dumps({**r, "response": x}) + "\n" for r, x in zip(read_v2p_records(V2P_FILE), responses)))
    return path


# ------------------------------------------------------------------------------------------ running policies

def test_evaluate_baselines_on_the_toy_world(toy_dataset):
    samples, base = toy_dataset
    cfg = EvalConfig(n_bootstrap=200)
    oracle = evaluate("oracle", samples, base, cfg, progress=False)
    assert oracle.summary["overall"]["accuracy"] == 1.0 and len(oracle.records) == len(samples)
    assert all(r.n_tool_calls >= 1 and r.n_frames >= 1 for r in oracle.records)
    assert set(oracle.summary["by_task"]) == {s.task for s in samples}
    assert set(oracle.summary["by_prompt_type"]) == {s.visual_prompt.prompt_type for s in samples}
    guess = evaluate("no-tool:random", samples, base, cfg, progress=False)
    assert guess.policy == "no-tool:random"
    assert all(r.n_tool_calls == 0 and r.n_turns == 1 and r.answer is not None for r in guess.records)
    mc = guess.summary["by_form"]["mc"]
    assert mc["accuracy"] < 0.8  # a guess among 4-5 options
    r1, r2 = (evaluate("random", samples, base, EvalConfig(seed=5, n_bootstrap=50), progress=False) for _ in range(2))
    assert [r.answer for r in r1.records] == [r.answer for r in r2.records] and r1.summary == r2.summary
    sub = evaluate("oracle", samples, base, EvalConfig(max_samples=3, seed=1, n_bootstrap=0), progress=False)
    assert len(sub.records) == 3 and [r.sample_id for r in sub.records] == [s.id for s in samples if s.id in
                                                                            {r.sample_id for r in sub.records}]


def test_oe_answers_go_to_the_judge(real_samples):
    samples, base = real_samples
    oe = [s for s in samples if not s.is_mc]
    seen = []

    def lenient(prediction, reference, question):  # a Judge: right whenever the reference has the first word
        seen.append((reference, question))
        return float(prediction.split()[0].lower() in reference.lower())

    strict = evaluate("oracle", samples, base, EvalConfig(n_bootstrap=0), progress=False)
    judged = evaluate("no-tool:random", samples, base, EvalConfig(n_bootstrap=0), judge=lenient, progress=False)
    assert strict.summary["by_form"]["oe"]["accuracy"] == 1.0  # the oracle answers with the reference itself
    assert sorted(seen) == sorted((s.answer, s.question) for s in oe)  # MC never reaches the judge
    assert any("lenient" in n for n in judged.notes)  # the note names the judge
    assert any("rule judge" in n for n in strict.notes)  # the default
    for r in judged.records:
        s = next(x for x in samples if x.id == r.sample_id)
        assert r.correct == (r.answer.split()[0].lower() in s.answer.lower() if not s.is_mc else r.answer == s.answer)


def test_a_crashing_episode_counts_as_wrong(tmp_path):
    samples = load_v2p(V2P_FILE)
    samples[1].video_path = "videos/missing.mp4"
    res = evaluate("oracle", samples, V2P, EvalConfig(n_bootstrap=50, batch_size=2), progress=False)
    assert [r.correct for r in res.records] == [True, False, True]
    assert res.records[1].finish_reason == "error" and "missing.mp4" in res.records[1].error
    assert res.trajectories[1] is None and any("raised" in n for n in res.notes)
    write_results(res, tmp_path)  # a crashed episode has no transcript, yet everything is written
    with pytest.raises(RuntimeError, match="no such file"):  # VideoError
        evaluate("oracle", samples, V2P, EvalConfig(on_error="raise"), progress=False)


def test_write_results_files(tmp_path):
    samples = load_v2p(V2P_FILE)
    res = evaluate("oracle", samples, V2P, EvalConfig(n_bootstrap=100, save_images=2), progress=False)
    res.data = str(V2P_FILE)
    path = write_results(res, tmp_path)
    data = json.loads(path.read_text())
    assert data["summary"]["overall"]["accuracy"] == 1.0 and len(data["records"]) == 3
    assert data["summary"]["by_prompt_type"]["unknown"]["n"] == 1
    assert "## By prompt type" in (tmp_path / "results.md").read_text()
    for g in ("prompt_type", "task", "dimension"):
        assert Image.open(tmp_path / f"accuracy_by_{g}.png").size[0] > 100
    lines = (tmp_path / "transcripts.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["messages"][1]["content"][1]["image"] == "<image>"
    dirs = sorted((tmp_path / "transcripts").iterdir())
    assert len(dirs) == 2
    traj = Trajectory.load(dirs[0])
    assert traj.correct and traj.answer == "B" and traj.images()


def test_cli_entry_point(tmp_path, capsys):
    out = tmp_path / "o"
    assert main_eval(["--model", "oracle", "--data", str(V2P_FILE), "--out", str(out), "--n-bootstrap", "100",
                      "--save-images", "0"]) == 0
    assert "| all | 3 | 100.0 |" in capsys.readouterr().out
    assert (out / "results.md").is_file() and not (out / "transcripts").exists()
    res = json.loads((out / "results.json").read_text())
    assert res["scoring_rule"] == "seekerlite" and "strict option letter" in res["scoring"]
    assert "`seekerlite`" in (out / "results.md").read_text()
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "eval" and run["env"] == res["config"]["env"] == asdict(EnvConfig())  # no run folder: defaults
    assert main(["eval", "--model", "oracle", "--data", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no such data file" in err


@pytest.fixture(scope="module")
def tiny_sft_run(tmp_path_factory) -> Path:
    """A run folder as SFT leaves it after full fine-tuning (weights at the top), made with a small env."""
    from seekerlite.models import load_student
    from seekerlite.runs import RunInfo, write_run

    run = tmp_path_factory.mktemp("sft_run")
    write_run(run, RunInfo("sft", env=EnvConfig(overview_frames=2, frames_per_call=2), student=StudentConfig(),
                           weights="."))
    st = load_student("tiny", inference=True)
    st.model.save_pretrained(run)
    st.processor.save_pretrained(run)
    return run


def test_eval_of_a_run_folder_uses_its_env(tiny_sft_run, tmp_path, capsys):
    from seekerlite.runs import read_run

    def args(out, *extra):
        return ["eval", "--model", str(tiny_sft_run), "--data", "toy:1@7", "--out", str(out), "--max-new-tokens", "8",
                "--n-bootstrap", "0", "--max-samples", "2", *extra]

    out = tmp_path / "eval"
    assert main(args(out)) == 0
    res = json.loads((out / "results.json").read_text())
    env = res["config"]["env"]
    assert (env["overview_frames"], env["frames_per_call"]) == (2, 2)  # from run.json, not EnvConfig()'s 4, 4
    assert env["max_tool_rounds"] == EnvConfig().max_tool_rounds and len(res["records"]) == 2
    assert res["scoring_rule"] == "seekerlite"
    info = read_run(out, levels=0)
    assert info.kind == "eval" and info.env.frames_per_call == 2 and info.parent == str(tiny_sft_run)
    capsys.readouterr()
    refused = tmp_path / "refused"
    assert main(args(refused, "--frames-per-call", "3")) == 2  # contradicts the run: refused before anything runs
    err = capsys.readouterr().err
    assert err.startswith("error:") and "env.frames_per_call: the run has 2, given 3" in err and "--override" in err
    assert not (refused / "results.json").exists()
    assert main(args(tmp_path / "override", "--frames-per-call", "3", "--override")) == 0
    env = json.loads((tmp_path / "override" / "results.json").read_text())["config"]["env"]
    assert (env["overview_frames"], env["frames_per_call"]) == (2, 3)  # what was given wins; the rest from the run


def test_model_policies_tiny_no_tool_and_adapter(tmp_path):
    """The tiny model as "no-tool:tiny", and a LoRA adapter folder loaded onto its recorded base."""
    from peft import PeftModel

    from seekerlite.config import assistant_turns
    from seekerlite.models import load_student

    samples = load_v2p(V2P_FILE)[:1]
    res = evaluate("no-tool:tiny", samples, V2P, EvalConfig(n_bootstrap=0, max_new_tokens=8), progress=False)
    assert res.records[0].n_turns == 1 and res.records[0].n_frames == 0
    assert res.config["env"]["max_tool_rounds"] == 0  # no-tool: the env has no tool rounds
    student = load_student(StudentConfig(model_id="tiny", lora_r=2, lora_alpha=4))
    student.model.save_pretrained(tmp_path / "adapter")
    env = EnvConfig(max_tool_rounds=2)
    policy, env_used = make_policy(str(tmp_path / "adapter"), env, max_new_tokens=8)
    assert isinstance(policy.model, PeftModel) and env_used == env  # an adapter folder has no run.json: env as given
    res = evaluate(policy, samples, V2P, EvalConfig(n_bootstrap=0, max_new_tokens=8, env=env), progress=False)
    assert res.records[0].finish_reason in ("answer", "no_action", "max_turns") and len(res.trajectories) == 1
    assert res.records[0].n_turns <= assistant_turns(env) == 3
