"""One stateless tool call on ``VideoSeekerEnv``: what a verl tool does between ``create`` and ``release``.

    kw = create_kwargs(sample, base_dir, EnvConfig(frames_as="grid"))     # travels in the parquet row
    out = run_call("crop_video", kw, {"start_time": 2.0, "end_time": 4.0}, calls_used=1, frames_used=4)
    out.text, out.images, out.frames                                      # -> verl ToolResponse(text, image)

verl's tool agent loop creates, executes and releases a tool instance for every single call, so nothing survives
between the calls of one episode except what the row carries (``create_kwargs``: the sample as JSON, with its
video and marked-frame paths made absolute, and the environment's budgets) and what the loop lets a tool keep
per trajectory (``AgentData.extra_fields``: ``used_budget``/``record_use`` keep the calls and frames spent, so
the episode's tool-round and frame budgets hold as in ``VideoSeekerEnv``). The call itself runs through the
same ``policies.run_tool`` and environment code as seekerlite's own episodes and TRL's GRPO.

verl shows a tool message's images before its text, so the text carries each frame's timestamp label in order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from seekerlite.config import EnvConfig
from seekerlite.env import VideoSeekerEnv, tool_schemas
from seekerlite.policies.loop import run_tool
from seekerlite.schema import Sample, from_dict, resolve_path

STATE_KEY = "seekerlite"  # AgentData.extra_fields[STATE_KEY] = {"calls": int, "frames": int} of the trajectory


@dataclass
class ToolOutput:
    """One call's observation, split the way verl's ``ToolResponse(text, image)`` wants it."""

    text: str
    images: list[Any] = field(default_factory=list)  # PIL images, in the order the environment returned them
    frames: int = 0  # video frames this call used from the episode's frame budget (a grid image holds several)
    ok: bool = True  # False for an error observation (bad call, budget spent)


def create_kwargs(sample: Sample, base_dir: Any, env: EnvConfig) -> dict[str, str]:
    """What one episode's tools need, as strings (parquet-safe): the sample (absolute paths) and the env budgets."""
    d = sample.to_dict()
    d["video_path"] = resolve_path(sample.video_path, base_dir)
    vp = d.get("visual_prompt")
    if vp and vp.get("image_path"):
        vp["image_path"] = resolve_path(vp["image_path"], base_dir)
    return {"sample": json.dumps(d, sort_keys=True), "env": json.dumps(asdict(env), sort_keys=True)}


def read_create_kwargs(kwargs: dict[str, Any]) -> tuple[Sample, EnvConfig]:
    """The sample and environment settings back from ``create_kwargs`` (ValueError naming the missing key)."""
    missing = [k for k in ("sample", "env") if not kwargs.get(k)]
    if missing:
        raise ValueError(f"verl create_kwargs lack {missing}: export the data with `seekerlite export verl`")
    return from_dict(Sample, json.loads(kwargs["sample"])), from_dict(EnvConfig, json.loads(kwargs["env"]))


def used_budget(agent_data: Any) -> tuple[int, int]:
    """(tool calls, frames) this trajectory has spent so far, from verl's ``AgentData.extra_fields`` (0, 0 if none)."""
    state = (getattr(agent_data, "extra_fields", None) or {}).get(STATE_KEY) or {}
    return int(state.get("calls", 0)), int(state.get("frames", 0))


def record_use(agent_data: Any, out: ToolOutput) -> None:
    """Add one call (and its frames) to the trajectory's spent budget in ``AgentData.extra_fields``."""
    fields = getattr(agent_data, "extra_fields", None)
    if fields is None:
        return
    calls, frames = used_budget(agent_data)
    fields[STATE_KEY] = {"calls": calls + 1, "frames": frames + out.frames}


def run_call(name: str, kwargs: dict[str, Any], parameters: Any, calls_used: int = 0, frames_used: int = 0) -> ToolOutput:
    """Run tool `name` with `parameters` for the episode described by `kwargs` (``create_kwargs``), after
    `calls_used` calls that returned `frames_used` frames. Never raises for a bad call: it comes back as text."""
    sample, env_cfg = read_create_kwargs(kwargs)
    if calls_used >= env_cfg.max_tool_rounds:  # the env's own words for a spent budget
        return ToolOutput(f"Error: tool budget spent ({env_cfg.max_tool_rounds} calls); give your final answer now",
                          ok=False)
    if name == "crop_video" and frames_used >= env_cfg.max_total_frames:
        return ToolOutput(f"Error: frame budget spent ({env_cfg.max_total_frames} frames); give your final answer "
                          "now", ok=False)
    left = replace(env_cfg, max_tool_rounds=env_cfg.max_tool_rounds - calls_used,
                   max_total_frames=max(1, env_cfg.max_total_frames - frames_used))
    env = VideoSeekerEnv(left)
    try:
        env.reset(sample=sample)
        content = run_tool(env, name, parameters)
    finally:
        if env.reader is not None:
            env.reader.close()
    texts = [p["text"] for p in content if p.get("type") == "text"]
    images = [p["image"] for p in content if p.get("type") == "image"]
    return ToolOutput("\n".join(texts), images, env.frames_used, ok=env.n_errors == 0)


def verl_tool_schemas() -> list[dict[str, Any]]:
    """The tools' JSON schemas in the subset verl's ``OpenAIFunctionToolSchema`` reads: each parameter's
    ``type`` (a list for a union) and ``description``; no ``return``, ``items`` or ``anyOf``."""
    out = []
    for s in tool_schemas():
        fn = s["function"]
        props = {}
        for pname, p in fn["parameters"].get("properties", {}).items():
            types = [a["type"] for a in p["anyOf"]] if "anyOf" in p else p.get("type", "string")
            props[pname] = {"type": types, "description": p.get("description", "")}
        params = {"type": "object", "properties": props, "required": list(fn["parameters"].get("required", []))}
        out.append({"type": "function", "function": {"name": fn["name"], "description": fn["description"],
                                                     "parameters": params}})
    return out
