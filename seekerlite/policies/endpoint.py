"""A policy behind any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, SGLang, llama.cpp, OpenAI, ...):
a stronger teacher for SFT trajectories, or a judge of RL pass rates.

    policy = OpenAIPolicy("http://localhost:8000/v1", "Qwen/Qwen3-VL-8B-Instruct")   # key from $OPENAI_API_KEY
"""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from typing import Any

from seekerlite.env import tool_schemas
from seekerlite.grammar import THINK_CLOSE, THINK_OPEN, render_tool_call
from seekerlite.policies.loop import PolicyReply


def _image_url(image: Any) -> str:
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HF chat messages -> OpenAI chat messages: images become data URLs; tool calls get ids; a tool result's
    images (OpenAI tool messages hold text only) follow it in a user message."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of tool calls not answered yet
    n = 0
    for m in messages:
        parts = m["content"] if isinstance(m.get("content"), list) else [{"type": "text", "text": m.get("content") or ""}]
        conv = [{"type": "text", "text": p["text"]} if p.get("type") == "text" else
                {"type": "image_url", "image_url": {"url": _image_url(p["image"])}} for p in parts]
        if m["role"] == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": "".join(p.get("text", "") for p in parts)}
            if m.get("tool_calls"):
                msg["tool_calls"] = []
                for c in m["tool_calls"]:
                    pending.append(f"call_{n}")
                    msg["tool_calls"].append({"id": f"call_{n}", "type": "function", "function": {
                        "name": c["function"]["name"], "arguments": json.dumps(c["function"]["arguments"])}})
                    n += 1
            out.append(msg)
        elif m["role"] == "tool":
            text = "\n".join(p["text"] for p in conv if p["type"] == "text")
            out.append({"role": "tool", "tool_call_id": pending.pop(0) if pending else f"call_{n}", "content": text})
            images = [p for p in conv if p["type"] == "image_url"]
            if images:
                out.append({"role": "user", "content": [{"type": "text", "text": f"(the frames {m.get('name', 'the tool')} returned)"}] + images})
        else:
            out.append({"role": m["role"], "content": conv})
    return out


class OpenAIPolicy:
    """A policy behind any OpenAI-compatible ``/chat/completions`` endpoint (it sees the tools' JSON schemas)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_tokens: int = 512,
                 temperature: float = 0.0, timeout: float = 120.0) -> None:
        self.base_url, self.model, self.api_key = base_url.rstrip("/"), model, api_key
        self.max_tokens, self.temperature, self.timeout = max_tokens, temperature, timeout
        self.name = f"endpoint:{model}"

    def act(self, messages: list[dict[str, Any]], env: Any) -> PolicyReply:
        body = {"model": self.model, "messages": to_openai_messages(messages), "tools": tool_schemas(),
                "max_tokens": self.max_tokens, "temperature": self.temperature}
        req = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(), headers={
            "Content-Type": "application/json", **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                msg = json.loads(resp.read())["choices"][0]["message"]
        except OSError as e:
            raise RuntimeError(f"teacher endpoint {self.base_url} failed: {e}") from e
        text = msg.get("content") or ""
        thinking = msg.get("reasoning_content") or msg.get("reasoning")
        if thinking and THINK_OPEN not in text:
            text = f"{THINK_OPEN}{thinking}{THINK_CLOSE}{text}"
        for c in msg.get("tool_calls") or []:
            args = c["function"].get("arguments") or "{}"
            text += ("\n" if text else "") + render_tool_call(c["function"]["name"], json.loads(args) if isinstance(args, str) else args)
        return PolicyReply(text)
