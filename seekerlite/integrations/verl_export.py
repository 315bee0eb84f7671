"""``seekerlite export verl``: RL samples -> what verl's multi-turn GRPO reads (the paper's scale-out path).

    seekerlite export verl --data runs/pipe --out runs/verl --frames-as grid     # a run folder or an rl.jsonl
    bash runs/verl/run_verl.sh MODEL_PATH                                         # on the GPU nodes, in a verl env

writes into ``--out``:

    train.parquet, val.parquet   one row per sample (split by video), the columns verl's RLHFDataset and tool agent
                                 loop read: data_source, agent_name "tool_agent", prompt (chat messages, string
                                 content with <image> placeholders), images (PNG bytes: the marked frame and the
                                 overview), ability, reward_model {style "rule", ground_truth}, extra_info {index,
                                 split, need_tools_kwargs, tools_kwargs {tool: {create_kwargs}}, tool_selection,
                                 sample_id, question, options}
    tools.yaml                   the two tools (``verl_tools.CropVideoTool``, ``ViewVisualPromptTool``) and schemas
    run_verl.sh                  ``python -m verl.trainer.main_ppo`` with GRPO, the multi-turn tool agent, the
                                 rollout budget from the env settings, and ``verl_reward.compute_score``
    export.json                  the settings used

The prompt is ``opening_messages`` of ``VideoSeekerEnv`` (the same first turn as SFT, GRPO and evaluation), and
``create_kwargs`` carry the sample (absolute video path) and env budgets: the videos must be readable at the same
path on every node. Writing needs no verl; the files are byte-identical for the same input and settings.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from seekerlite.cliargs import add_config_arguments, config_from_args, explicit_in
from seekerlite.config import EnvConfig, assistant_turns
from seekerlite.env import VideoSeekerEnv, opening_messages
from seekerlite.integrations.verl_session import create_kwargs, verl_tool_schemas

VERL_VERSION = "0.9.1"  # the verl release these files were tested against (tests/test_verl.py, .ci/verl)
DATA_SOURCE = "seekerlite"
TOOL_CLASSES = {"crop_video": "seekerlite.integrations.verl_tools.CropVideoTool",
                "view_visual_prompt": "seekerlite.integrations.verl_tools.ViewVisualPromptTool"}
COLUMNS = ("data_source", "agent_name", "prompt", "images", "ability", "reward_model", "extra_info")


@dataclass
class VerlExportConfig:
    """What ``seekerlite export verl`` writes, and the launch settings of its ``run_verl.sh``."""

    data: str = ""  # RL samples: a pipeline run folder (its rl.jsonl), a samples JSONL, or toy[:N][@SEED]
    output_dir: str = "runs/verl"  # folder for the parquet files, tools.yaml and run_verl.sh
    val_fraction: float = 0.1  # share of the videos held out as val.parquet (at least one video when there are 2+)
    seed: int = 0  # seed of the train/val split
    model_path: str = "Qwen/Qwen3-VL-2B-Instruct"  # run_verl.sh's default model (its first argument overrides)
    rollouts_per_prompt: int = 8  # GRPO group size (the paper: 8)
    train_batch_size: int = 32  # prompts per GRPO step
    max_prompt_length: int = 4096  # tokens of the first turn (question, marked frame, overview)
    max_response_length: int = 8192  # tokens of all assistant and tool turns after it
    n_gpus_per_node: int = 8  # GPUs per node
    nnodes: int = 1  # nodes (the paper: 4)
    rollout_engine: str = "sglang"  # verl rollout backend: sglang | vllm
    env: EnvConfig = field(default_factory=EnvConfig)  # the tool environment (budgets, frames_as) of every rollout


def prompt_row(messages: list[dict[str, Any]]) -> tuple[list[dict[str, str]], list[dict[str, bytes]]]:
    """HF chat messages with image parts -> (messages with string content and ``<image>`` placeholders, PNG bytes
    of the images in order): verl's RLHFDataset splits the strings back into the same parts."""
    out, images = [], []
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        text = []
        for p in content:
            if p.get("type") == "image":
                buf = io.BytesIO()
                p["image"].convert("RGB").save(buf, format="PNG")
                images.append({"bytes": buf.getvalue()})
                text.append("<image>")
            else:
                text.append(p.get("text", ""))
        out.append({"role": m["role"], "content": "".join(text)})
    return out, images


def build_rows(samples: list[Any], base_dir: Any, env: EnvConfig, split: str) -> list[dict[str, Any]]:
    """One verl row per sample (see the module docstring for the columns)."""
    rows, tools = [], sorted(TOOL_CLASSES)
    venv = VideoSeekerEnv(env)
    try:
        for i, s in enumerate(samples):
            venv.reset(sample=s, base_dir=base_dir)
            prompt, images = prompt_row(opening_messages(venv))
            kw = create_kwargs(s, base_dir, env)
            rows.append({
                "data_source": DATA_SOURCE, "agent_name": "tool_agent", "prompt": prompt, "images": images,
                "ability": s.task, "reward_model": {"style": "rule", "ground_truth": s.answer},
                "extra_info": {"index": i, "split": split, "need_tools_kwargs": True,
                               "tools_kwargs": {t: {"create_kwargs": kw} for t in tools}, "tool_selection": tools,
                               "sample_id": s.id, "question": s.question, "options": s.options},
            })
    finally:
        if venv.reader is not None:
            venv.reader.close()
    return rows


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    """Rows -> a parquet file (pyarrow; the columns in ``COLUMNS`` order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        raise ValueError(f"{path}: no samples to write (check --data and --val-fraction)")
    pq.write_table(pa.Table.from_pylist([{c: r[c] for c in COLUMNS} for r in rows]), path)
    return path


def tool_config() -> dict[str, Any]:
    """The tool YAML verl's ``initialize_tools_from_config`` reads."""
    return {"tools": [{"class_name": TOOL_CLASSES[s["function"]["name"]], "config": {"type": "native"},
                       "tool_schema": s} for s in verl_tool_schemas()]}


def image_limit(env: EnvConfig) -> int:
    """The most images one rollout can hold: marked frame + overview + what the tool rounds can return."""
    per_call = 1 if env.frames_as == "grid" else env.frames_per_call
    tools = min(env.max_tool_rounds * per_call, env.max_total_frames + env.max_tool_rounds) if per_call > 1 else env.max_tool_rounds
    return 1 + env.overview_frames + tools


def launch_overrides(cfg: VerlExportConfig, out: Path) -> list[str]:
    """verl ``main_ppo`` Hydra overrides: GRPO, the multi-turn tool agent loop and the seekerlite reward."""
    from seekerlite.integrations import verl_reward

    out = out.resolve()
    return [
        "algorithm.adv_estimator=grpo",
        f"data.train_files={out / 'train.parquet'}", f"data.val_files={out / 'val.parquet'}",
        f"data.train_batch_size={cfg.train_batch_size}", f"data.max_prompt_length={cfg.max_prompt_length}",
        f"data.max_response_length={cfg.max_response_length}", "data.return_raw_chat=True",
        "data.filter_overlong_prompts=True", "data.image_key=images",
        "actor_rollout_ref.model.path=${MODEL_PATH}",
        f"actor_rollout_ref.rollout.name={cfg.rollout_engine}",
        f"actor_rollout_ref.rollout.n={cfg.rollouts_per_prompt}",
        "actor_rollout_ref.rollout.multi_turn.enable=True",
        f"actor_rollout_ref.rollout.multi_turn.max_assistant_turns={assistant_turns(cfg.env)}",
        f"actor_rollout_ref.rollout.multi_turn.tool_config_path={out / 'tools.yaml'}",
        "actor_rollout_ref.rollout.multi_turn.format=hermes",
        "actor_rollout_ref.rollout.multi_turn.max_tool_response_length=2048",
        "actor_rollout_ref.rollout.agent.default_agent_loop=tool_agent",
        f"+actor_rollout_ref.rollout.limit_images={image_limit(cfg.env)}",
        f"reward.custom_reward_function.path={Path(verl_reward.__file__).resolve()}",
        "reward.custom_reward_function.name=compute_score",
        f"trainer.n_gpus_per_node={cfg.n_gpus_per_node}", f"trainer.nnodes={cfg.nnodes}",
        "trainer.project_name=seekerlite", f"trainer.experiment_name={out.name}",
    ]


def launch_script(cfg: VerlExportConfig, out: Path) -> str:
    """run_verl.sh: ``bash run_verl.sh [MODEL_PATH] [more overrides...]``."""
    args = " \\\n  ".join(f'"{o}"' if "${MODEL_PATH}" in o else shlex.quote(o) for o in launch_overrides(cfg, out))
    return ("#!/usr/bin/env bash\n"
            f"# Agentic GRPO on verl=={VERL_VERSION} (its own env with seekerlite importable); written by "
            "`seekerlite export verl`.\n"
            "# Usage: bash run_verl.sh [MODEL_PATH] [extra hydra overrides, e.g. trainer.total_epochs=2]\n"
            "set -euo pipefail\n"
            f"MODEL_PATH=\"${{1:-{cfg.model_path}}}\"\n"
            "shift || true\n"
            f"python3 -m verl.trainer.main_ppo \\\n  {args} \\\n  \"$@\"\n")


def export_verl(cfg: VerlExportConfig, samples: list[Any], base_dir: Any) -> dict[str, Path]:
    """Write every file of the export; returns their paths by name."""
    import yaml

    from seekerlite.data import split_by_video

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, val = split_by_video(samples, cfg.val_fraction, cfg.seed)
    if not val:  # one video only: validate on the training samples rather than write an empty file
        val = train
    paths = {"train": write_parquet(build_rows(train, base_dir, cfg.env, "train"), out / "train.parquet"),
             "val": write_parquet(build_rows(val, base_dir, cfg.env, "val"), out / "val.parquet")}
    paths["tools"] = out / "tools.yaml"
    paths["tools"].write_text(yaml.safe_dump(tool_config(), sort_keys=False, width=120))
    paths["script"] = out / "run_verl.sh"
    paths["script"].write_text(launch_script(cfg, out))
    paths["script"].chmod(0o755)
    paths["settings"] = out / "export.json"
    paths["settings"].write_text(json.dumps({"verl": VERL_VERSION, "n_train": len(train), "n_val": len(val),
                                             **asdict(cfg)}, indent=1) + "\n")
    return paths


def _resolve_data(cfg: VerlExportConfig, env_given: set[str]) -> tuple[VerlExportConfig, str]:
    """A run folder -> its rl.jsonl, with the run's env settings (``runs.settle``; frames_as may differ)."""
    from seekerlite.runs import read_run, settle

    path = Path(cfg.data)
    if not path.is_dir():
        return cfg, cfg.data
    data = path / "rl.jsonl"
    if not data.is_file():
        raise FileNotFoundError(f"{path}: no rl.jsonl in this folder (run `seekerlite pipeline run` first)")
    info = read_run(path, levels=0)
    if info is not None:
        ignore = ("frames_as",) if "frames_as" in env_given else ()
        cfg = replace(cfg, env=settle(info.env, cfg.env, env_given, "env", info.path, ignore=ignore))
    return cfg, str(data)


def main_export(argv: list[str] | None = None) -> int:
    """``seekerlite export verl --data RL.jsonl|RUN --out DIR [--frames-as grid|list] ...``: files for verl."""
    from seekerlite.data import load_samples

    argv = list(argv or [])
    if not argv or argv[0] != "verl":
        raise ValueError(f"seekerlite export: the only target is 'verl' (seekerlite export verl --help), got "
                         f"{argv[:1] or 'nothing'}")
    p = argparse.ArgumentParser(prog="seekerlite export verl", description=main_export.__doc__)
    add_config_arguments(p, VerlExportConfig)
    cfg, explicit = config_from_args(VerlExportConfig, p.parse_args(argv[1:]))
    if not cfg.data:
        p.error("--data is required (a pipeline run folder, an rl.jsonl or toy[:N][@SEED])")
    cfg, data = _resolve_data(cfg, explicit_in(explicit, "env"))
    samples, base = load_samples(data, out_dir=cfg.output_dir)
    paths = export_verl(cfg, samples, base)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    print(f"launch on the GPU nodes (verl=={VERL_VERSION}): bash {paths['script']} MODEL_PATH")
    return 0
