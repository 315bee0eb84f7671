"""``seekerlite export verl`` against verl's own classes (verl 0.9.1 in .venv-verl, built by .ci/verl) and, always,
against the row schema verl reads, in the main venv. verl cannot share .venv (it pins transformers<5.11, seekerlite
needs >=5.17), so its checks run in a subprocess of that venv with the checkout on PYTHONPATH; without the venv
they skip, saying how to build it."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seekerlite.config import EnvConfig
from seekerlite.grammar import assistant_turn
from seekerlite.integrations.verl_export import (
    COLUMNS,
    TOOL_CLASSES,
    VERL_VERSION,
    VerlExportConfig,
    export_verl,
)
from seekerlite.integrations.verl_reward import compute_score
from seekerlite.integrations.verl_session import (
    create_kwargs,
    read_create_kwargs,
    run_call,
)
from seekerlite.schema import load_jsonl
from seekerlite.train.rewards import score_completion

ROOT = Path(__file__).resolve().parent.parent
VERL_PY = ROOT / ".venv-verl" / "bin" / "python"
SAMPLES = ROOT / "sample_data" / "annotations" / "vtest_samples.jsonl"
CROP = {"start_time": 7.0, "end_time": 10.0, "region": [400, 100, 800, 600]}


@pytest.fixture(scope="module")
def samples():
    return load_jsonl(SAMPLES)[:2], SAMPLES.parent  # one multiple-choice, one open-ended question


@pytest.fixture(scope="module")
def exported(samples, tmp_path_factory):
    out = tmp_path_factory.mktemp("verl")
    cfg = VerlExportConfig(output_dir=str(out / "a"), env=EnvConfig(frames_as="grid"))
    paths = export_verl(cfg, *samples)
    again = export_verl(VerlExportConfig(output_dir=str(out / "b"), env=EnvConfig(frames_as="grid")), *samples)
    return paths, again


def test_rows_follow_the_schema_verl_reads(exported, samples):
    import pyarrow.parquet as pq
    from PIL import Image

    paths, _ = exported
    rows = pq.read_table(paths["train"]).to_pylist()
    assert tuple(pq.read_schema(paths["train"]).names) == COLUMNS and len(rows) == 2
    for i, (row, s) in enumerate(zip(rows, samples[0])):
        assert row["data_source"] == "seekerlite" and row["agent_name"] == "tool_agent" and row["ability"] == s.task
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert all(isinstance(m["content"], str) for m in row["prompt"])
        assert row["prompt"][1]["content"].count("<image>") == len(row["images"]) == 1 + EnvConfig().overview_frames
        assert s.question in row["prompt"][1]["content"]
        assert all(Image.open(io.BytesIO(im["bytes"])).size[0] > 0 for im in row["images"])
        assert row["reward_model"] == {"style": "rule", "ground_truth": s.answer}
        info = row["extra_info"]
        assert (info["index"], info["split"], info["need_tools_kwargs"]) == (i, "train", True)
        assert info["tool_selection"] == sorted(TOOL_CLASSES) == sorted(info["tools_kwargs"])
        assert info["options"] == s.options and info["question"] == s.question and info["sample_id"] == s.id
        back, env = read_create_kwargs(info["tools_kwargs"]["crop_video"]["create_kwargs"])
        assert back.id == s.id and Path(back.video_path).is_absolute() and Path(back.video_path).is_file()
        assert env == EnvConfig(frames_as="grid")


def test_export_is_byte_identical_and_carries_the_launch_keys(exported):
    import yaml

    a, b = exported
    for name in ("train", "val", "tools"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    tools = yaml.safe_load(a["tools"].read_text())["tools"]
    assert {t["class_name"] for t in tools} == set(TOOL_CLASSES.values())
    assert all(t["config"] == {"type": "native"} and t["tool_schema"]["type"] == "function" for t in tools)
    script = a["script"].read_text()
    for key in ("actor_rollout_ref.rollout.multi_turn.enable=True", "multi_turn.max_assistant_turns=4",
                "multi_turn.tool_config_path=", "multi_turn.format=hermes", "agent.default_agent_loop=tool_agent",
                "rollout.limit_images=8", "data.return_raw_chat=True", "custom_reward_function.name=compute_score"):
        assert key in script, key
    assert json.loads(a["settings"].read_text())["verl"] == VERL_VERSION


def test_the_package_runs_without_verl():
    code = ("import importlib.util, sys; import seekerlite.integrations.verl_export, seekerlite.integrations.verl_reward\n"
            "if importlib.util.find_spec('verl') is None:\n"
            "    try:\n        import seekerlite.integrations.verl_tools\n    except ImportError as e:\n"
            "        assert '.ci/verl' in str(e), e; print('no verl: clear ImportError')\n"
            "    else:\n        sys.exit('verl_tools imported without verl')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr


def test_a_stateless_call_is_the_env_call_and_keeps_the_budgets(samples):
    import numpy as np

    from seekerlite.env import VideoSeekerEnv

    (s, *_), base = samples
    env = EnvConfig(max_tool_rounds=3, max_total_frames=6)
    kw = create_kwargs(s, base, env)
    direct = VideoSeekerEnv(env)
    direct.reset(sample=s, base_dir=base)
    want = [p["image"] for p in direct.crop_video(**CROP) if p["type"] == "image"]
    out = run_call("crop_video", kw, CROP)
    assert out.ok and out.frames == 4 and len(out.images) == 4 and out.text.count("seconds>") == 4
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(out.images, want))
    grid = run_call("crop_video", create_kwargs(s, base, EnvConfig(frames_as="grid")), CROP)
    assert grid.ok and grid.frames == 4 and len(grid.images) == 1 and "one grid image" in grid.text
    assert run_call("crop_video", kw, CROP, calls_used=1, frames_used=4).frames == 2  # 6-frame budget: 2 left
    assert "frame budget spent" in run_call("crop_video", kw, CROP, calls_used=1, frames_used=6).text
    spent = run_call("view_visual_prompt", kw, {}, calls_used=3)
    assert not spent.ok and "tool budget spent (3 calls)" in spent.text
    assert len(run_call("view_visual_prompt", kw, {}).images) == 1
    assert run_call("crop_video", kw, {"start": 1}).text.startswith("Error: bad arguments")


def _replies(samples):
    """(name, completion, answer, options, question): a fixed set of replies with real tool observations."""
    (mc, oe), base = samples
    def tool(frames_as, name="crop_video", args=CROP):
        out = run_call(name, create_kwargs(mc, base, EnvConfig(frames_as=frames_as)), args)
        return {"role": "tool", "content": [{"type": "image", "image": im} for im in out.images]
                + [{"type": "text", "text": out.text}]}
    crop = assistant_turn("look at him", ("crop_video", CROP))
    right, wrong = assistant_turn("seen", answer=mc.answer), assistant_turn("guess", answer="A")
    m = (mc.answer, mc.options, mc.question)
    return [
        ("direct", [right], *m), ("crop-list", [crop, tool("list"), right], *m),
        ("crop-grid", [crop, tool("grid"), right], *m), ("wrong", [crop, tool("list"), wrong], *m),
        ("three-crops", [crop, tool("list"), crop, tool("grid"), crop, tool("list"), right], *m),
        ("view", [assistant_turn("again", ("view_visual_prompt", {})), tool("list", "view_visual_prompt", {}), right], *m),
        ("no-think", [{"role": "assistant", "content": f"<answer>{mc.answer}</answer>"}], *m),
        ("two-answers", [{"role": "assistant", "content": f"<think>x</think><answer>A</answer><answer>{mc.answer}</answer>"}], *m),
        ("ends-on-call", [crop], *m),
        ("unknown-tool", [assistant_turn("x", ("zoom", {})), tool("list", "zoom", {}), right], *m),
        ("oe-right", [crop, tool("list"), assistant_turn("seen", answer=oe.answer)], oe.answer, None, oe.question),
        ("oe-wrong", [assistant_turn("no", answer="a red car")], oe.answer, None, oe.question),
    ]


def _solution_str(processor, completion):
    """What verl's reward manager decodes for a rollout: the response after the prompt, special tokens dropped."""
    msgs = [{"role": "user", "content": [{"type": "text", "text": "Q?"}]}] + completion
    text = processor.apply_chat_template(msgs, tokenize=False)
    head = processor.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    assert text.startswith(head)
    ids = processor.tokenizer(text[len(head):])["input_ids"]
    return processor.tokenizer.decode(ids, skip_special_tokens=True)


@pytest.fixture(scope="module")
def scored_replies(samples):
    from transformers import AutoProcessor

    from seekerlite.models.tiny import ensure_tiny_model

    processor = AutoProcessor.from_pretrained(ensure_tiny_model())
    out = []
    for name, comp, answer, options, question in _replies(samples):
        want = score_completion(comp, answer, options, question)
        out.append({"name": name, "solution_str": _solution_str(processor, comp), "ground_truth": answer,
                    "extra_info": {"options": options, "question": question, "num_turns": len(comp) + 1},
                    "want": want})
    return out


def test_compute_score_is_seekerlites_reward_on_fixed_replies(scored_replies):
    totals = set()
    for r in scored_replies:
        got = compute_score("seekerlite", r["solution_str"], r["ground_truth"], r["extra_info"])
        assert got["score"] == pytest.approx(r["want"]["total"]), r["name"]
        for k in ("accuracy", "format", "parsimony", "tool_calls", "frames"):
            assert got[k] == pytest.approx(r["want"][k]), (r["name"], k)
        totals.add(round(got["score"], 4))
    assert len(totals) >= 4  # the set spans right, wrong, malformed and costly replies


VERL_SIDE = r'''
import asyncio, json, sys
args = json.loads(open(sys.argv[1]).read())
import verl
from omegaconf import OmegaConf
from transformers import AutoProcessor
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import ToolResponse
from verl.tools.tool_registry import initialize_tools_from_config
from verl.utils.dataset.rl_dataset import RLHFDataset
out = {"verl": verl.__version__}
tools = {t.name: t for t in initialize_tools_from_config(args["tools"])}
out["tools"] = sorted(tools)
assert all(isinstance(t, BaseTool) for t in tools.values())
processor = AutoProcessor.from_pretrained(args["processor"])
config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images", "return_raw_chat": True,
                           "filter_overlong_prompts": True, "max_prompt_length": 16384,
                           "tool_config_path": args["tools"], "cache_dir": args["cache"], "filter_overlong_prompts_workers": 1})
ds = RLHFDataset(args["train"], processor.tokenizer, config, processor)
item = ds[0]
out["dataset_len"] = len(ds)
out["prompt_images"] = sum(p.get("type") == "image" for m in item["raw_prompt"] for p in (m["content"] if isinstance(m["content"], list) else []))
out["tools_kwargs"] = sorted(item["tools_kwargs"])
try:
    from verl.experimental.agent_loop.tool_agent_loop import AgentData
    def new_data():
        return AgentData(messages=[], image_data=None, video_data=None, audio_data=None, mm_processor_kwargs=None,
                         metrics={}, request_id="t", tools_kwargs=item["tools_kwargs"])
    out["agent_data"] = "verl AgentData"
except Exception as e:  # the agent loop module needs more than a CPU install: a stand-in with extra_fields
    class Stand:
        def __init__(self): self.extra_fields = {}
    new_data = Stand
    out["agent_data"] = f"stand-in ({type(e).__name__})"

async def call(data, name, params, kw):
    # what ToolAgentLoop._call_tool does for a BaseTool: create, execute, release; one instance per call
    iid, _ = await tools[name].create(create_kwargs=kw[name]["create_kwargs"])
    try:
        resp, reward, metrics = await tools[name].execute(iid, params, agent_data=data)
    finally:
        await tools[name].release(iid)
    assert isinstance(resp, ToolResponse)
    return {"text": resp.text, "images": len(resp.image or []), "sizes": [im.size for im in resp.image or []], "metrics": metrics}

async def episode(frames_as):
    kw = json.loads(json.dumps(item["tools_kwargs"]))
    for name in kw:
        env = json.loads(kw[name]["create_kwargs"]["env"]); env["frames_as"] = frames_as
        kw[name]["create_kwargs"]["env"] = json.dumps(env)
    data = new_data()
    calls = [("crop_video", args["crop"]), ("view_visual_prompt", {}), ("crop_video", args["crop"]), ("crop_video", args["crop"])]
    return [await call(data, n, p, kw) for n, p in calls]
out["episodes"] = {fa: asyncio.run(episode(fa)) for fa in ("grid", "list")}
from seekerlite.integrations.verl_reward import compute_score
out["scores"] = [compute_score("seekerlite", r["solution_str"], r["ground_truth"], r["extra_info"]) for r in args["replies"]]
from hydra import compose, initialize_config_dir
import os
with initialize_config_dir(config_dir=os.path.join(os.path.dirname(verl.__file__), "trainer", "config"), version_base=None):
    cfg = compose(config_name="ppo_trainer", overrides=args["overrides"])
r = cfg.actor_rollout_ref.rollout
out["launch"] = {"multi_turn": bool(r.multi_turn.enable), "turns": r.multi_turn.max_assistant_turns,
                 "agent": r.agent.default_agent_loop, "limit_images": r.limit_images, "format": r.multi_turn.format,
                 "reward": cfg.reward.custom_reward_function.name, "raw_chat": bool(cfg.data.return_raw_chat)}
print("RESULT " + json.dumps(out))
'''


def _script_overrides(script: Path) -> list[str]:
    """The Hydra overrides run_verl.sh passes to verl's main_ppo (MODEL_PATH filled in)."""
    words = shlex.split(script.read_text().replace("\\\n", " "), comments=True)  # join continued lines
    args = words[words.index("verl.trainer.main_ppo") + 1:]
    return [a.replace("${MODEL_PATH}", "/models/student") for a in args if a != "$@"]


@pytest.mark.slow  # ~25 s: verl imports (ray, torch) in its own venv
@pytest.mark.skipif(not VERL_PY.exists(), reason=f"verl=={VERL_VERSION} lives in its own venv (it pins "
                    f"transformers<5.11; seekerlite needs >=5.17): build it with .ci/verl to run these checks")
def test_verl_loads_the_export_runs_the_tools_and_scores_the_same(exported, scored_replies, tmp_path):
    from seekerlite.models.tiny import ensure_tiny_model

    paths, _ = exported
    spec = {"tools": str(paths["tools"]), "train": str(paths["train"]), "processor": str(ensure_tiny_model()),
            "cache": str(tmp_path / "cache"), "crop": CROP, "overrides": _script_overrides(paths["script"]),
            "replies": [{k: r[k] for k in ("solution_str", "ground_truth", "extra_info")} for r in scored_replies]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, PYTHONPATH=str(ROOT), VERL_USE_EXTERNAL_PLUGINS="none", RAY_USAGE_STATS_ENABLED="0")
    r = subprocess.run([str(VERL_PY), "-c", VERL_SIDE, str(tmp_path / "spec.json")], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path, env=env, check=False)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["verl"] == VERL_VERSION and out["tools"] == sorted(TOOL_CLASSES)
    assert out["agent_data"] == "verl AgentData"  # the tool agent loop's own per-trajectory state
    assert out["dataset_len"] == 2 and out["prompt_images"] == 1 + EnvConfig().overview_frames
    assert out["tools_kwargs"] == sorted(TOOL_CLASSES)
    for frames_as, n in (("grid", 1), ("list", 4)):
        crop, view, crop2, over = out["episodes"][frames_as]
        assert (crop["images"], view["images"], crop2["images"]) == (n, 1, n), frames_as
        assert crop["metrics"]["frames"] == 4 and crop["text"].count("seconds>") == 4
        assert over["images"] == 0 and "tool budget spent (3 calls)" in over["text"]  # budget across stateless calls
    for r_, got in zip(scored_replies, out["scores"]):
        assert got["score"] == pytest.approx(r_["want"]["total"]), r_["name"]
    assert out["launch"] == {"multi_turn": True, "turns": 4, "agent": "tool_agent", "limit_images": 8,
                             "format": "hermes", "reward": "compute_score", "raw_chat": True}


def test_export_cli_takes_a_pipeline_runs_env_and_refuses_a_contradiction(samples, tmp_path):
    from seekerlite.integrations.verl_export import main_export
    from seekerlite.runs import RunInfo, RunMismatchError, write_run
    from seekerlite.schema import save_jsonl

    (s, *_), base = samples
    run = tmp_path / "pipe"
    write_run(run, RunInfo("pipeline", env=EnvConfig(frames_per_call=2, min_frames_per_call=2)))
    save_jsonl([create_kwargs_sample(s, base)], run / "rl.jsonl")
    assert main_export(["verl", "--data", str(run), "--out", str(tmp_path / "v"), "--frames-as", "grid"]) == 0
    env = json.loads((tmp_path / "v" / "export.json").read_text())["env"]
    assert (env["frames_per_call"], env["frames_as"]) == (2, "grid")  # the run's budgets, the asked-for rendering
    with pytest.raises(RunMismatchError, match="frames_per_call"):
        main_export(["verl", "--data", str(run), "--out", str(tmp_path / "w"), "--frames-per-call", "3"])
    with pytest.raises(ValueError, match="only target is 'verl'"):
        main_export(["trl"])


def create_kwargs_sample(sample, base):
    """The sample with absolute paths (as if a pipeline run folder held it)."""
    from seekerlite.schema import Sample

    return Sample.from_dict(json.loads(create_kwargs(sample, base, EnvConfig())["sample"]))
