"""verl ``BaseTool`` subclasses for the two VideoSeeker tools (the tool YAML that ``seekerlite export verl`` writes
names them): ``CropVideoTool`` and ``ViewVisualPromptTool``.

    tool = CropVideoTool(config={"type": "native"}, tool_schema=OpenAIFunctionToolSchema(**schema))
    iid, _ = await tool.create(create_kwargs=row["extra_info"]["tools_kwargs"]["crop_video"]["create_kwargs"])
    response, step_reward, metrics = await tool.execute(iid, {"start_time": 2.0, "end_time": 4.0}, agent_data=data)
    await tool.release(iid)

Each instance lives for one call (verl's tool agent loop creates and releases one per call); the work is
``verl_session.run_call`` on seekerlite's own ``VideoSeekerEnv``, run in a thread so that the rollout's event loop
keeps serving other trajectories while frames decode. The budgets spent by earlier calls of the same trajectory
come from ``agent_data.extra_fields`` (``verl_session.used_budget``). Tested against verl 0.9.1.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

try:
    from verl.tools.base_tool import BaseTool
    from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse
except ImportError as e:  # verl is optional: only this module needs it
    raise ImportError("seekerlite.integrations.verl_tools needs verl (tested with verl==0.9.1, in its own venv: "
                      "see .ci/verl); the rest of seekerlite runs without it") from e

from seekerlite.integrations.verl_session import (
    record_use,
    run_call,
    used_budget,
    verl_tool_schemas,
)


class _SeekerTool(BaseTool):
    """A VideoSeeker tool: ``create`` keeps the episode's ``create_kwargs``, ``execute`` runs one call."""

    tool_name = ""

    def __init__(self, config: dict | None = None, tool_schema: OpenAIFunctionToolSchema | None = None) -> None:
        if tool_schema is None:
            schema = next(s for s in verl_tool_schemas() if s["function"]["name"] == self.tool_name)
            tool_schema = OpenAIFunctionToolSchema.model_validate(schema)
        super().__init__(config or {"type": "native"}, tool_schema)
        self._episodes: dict[str, dict[str, Any]] = {}  # instance id -> create_kwargs (one call's life)

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, ToolResponse]:
        """Keep this call's episode description (``create_kwargs``: sample JSON and env budgets)."""
        instance_id = instance_id or str(uuid4())
        self._episodes[instance_id] = dict(kwargs.get("create_kwargs") or {})
        return instance_id, ToolResponse()

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs: Any) -> tuple[ToolResponse, float, dict]:
        """Run the tool; an invalid call is an ``Error: ...`` text for the model, never an exception."""
        agent_data = kwargs.get("agent_data")
        calls, frames = used_budget(agent_data)
        out = await asyncio.to_thread(run_call, self.name, self._episodes[instance_id], parameters, calls, frames)
        record_use(agent_data, out)
        response = ToolResponse(text=out.text, image=out.images) if out.images else ToolResponse(text=out.text)
        return response, 0.0, {"frames": out.frames, "ok": out.ok}

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        return 0.0  # the episode's reward is verl_reward.compute_score, at the end

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        self._episodes.pop(instance_id, None)


class CropVideoTool(_SeekerTool):
    """``crop_video(start_time, end_time, region=None)``: frames of a time window, optionally of a region."""

    tool_name = "crop_video"


class ViewVisualPromptTool(_SeekerTool):
    """``view_visual_prompt()``: the marked frame again."""

    tool_name = "view_visual_prompt"
