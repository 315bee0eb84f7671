"""A trajectory: the chat message list of one episode, plus per-turn metadata, and its files on disk.

The message list is the Hugging Face chat format that SFT data, GRPO rollouts, evaluation transcripts and the
figures all share. On disk, images become PNG files next to ``trajectory.json`` and image parts hold their
relative path (``{"type": "image", "image": "images/003.png"}``), which HF processors also accept.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from seekerlite.env import ToolRecord
from seekerlite.paths import file_name, inside, writing
from seekerlite.strictjson import SchemaError, iter_json_lines


def images_to_files(messages: list[dict[str, Any]], out_dir: Path, prefix: str = "") -> list[dict[str, Any]]:
    """A copy of `messages` whose in-memory images (PIL or arrays) are saved as ``out_dir/images/<prefix>NNN.png``
    and replaced by that relative path; parts that already hold a path are kept. `prefix` must be a safe file
    name (``paths.file_name``); the file never lands outside `out_dir`."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    k = 0

    def dump(p: Any) -> Any:
        nonlocal k
        if isinstance(p, dict) and p.get("type") == "image" and not isinstance(p.get("image"), str):
            rel = f"images/{prefix}{k:03d}.png"
            k += 1
            img = p["image"]
            target = inside(out_dir, rel)
            with writing(target):
                (Image.fromarray(img) if isinstance(img, np.ndarray) else img).save(target)
            return {**p, "image": rel}
        return p

    return [{**m, "content": [dump(p) for p in m["content"]]} if isinstance(m.get("content"), list) else m
            for m in messages]


def images_from_files(messages: list[dict[str, Any]], base: Path) -> list[dict[str, Any]]:
    """The inverse of `images_to_files`: image parts holding a relative path become RGB PIL images."""
    def load(p: Any) -> Any:
        if isinstance(p, dict) and p.get("type") == "image" and isinstance(p.get("image"), str):
            return {**p, "image": Image.open(base / p["image"]).convert("RGB")}
        return p

    return [{**m, "content": [load(p) for p in m["content"]]} if isinstance(m.get("content"), list) else m
            for m in messages]


@dataclass
class TurnMeta:
    """What happened in one assistant turn."""

    turn: int  # 0-based assistant turn index
    text: str  # the raw reply text
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "arguments"}] as parsed
    parse_errors: list[str] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)  # error observations the env returned
    frames_returned: int = 0
    prompt_tokens: int | None = None  # when the policy reports them
    completion_tokens: int | None = None


@dataclass
class Trajectory:
    """One episode: messages (HF chat format) + metadata."""

    sample_id: str
    messages: list[dict[str, Any]]
    turns: list[TurnMeta]
    tool_log: list[ToolRecord]
    answer: str | None  # the final <answer> text, None if the episode ended without one
    correct: bool | None  # None when not scorable here (OE without a judge)
    finish_reason: str  # "answer" | "no_action" | "max_turns"
    policy: str = ""

    @property
    def n_tool_calls(self) -> int:
        return len(self.tool_log)

    @property
    def n_tool_errors(self) -> int:
        """Tool calls that returned an error observation (bad call, unknown tool, or a failure while serving it)."""
        return sum(not r.ok for r in self.tool_log)

    @property
    def n_frames(self) -> int:
        return sum(len(r.timestamps) for r in self.tool_log if r.name == "crop_video")

    def images(self) -> list[Image.Image]:
        """Every image in the conversation, in order."""
        return [p["image"] for m in self.messages if isinstance(m.get("content"), list)
                for p in m["content"] if isinstance(p, dict) and p.get("type") == "image"]

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``trajectory.json`` and ``images/NNN.png`` under out_dir; returns the JSON path."""
        out = Path(out_dir)
        msgs = images_to_files(self.messages, out)
        data = {**{k: v for k, v in asdict(self).items() if k != "messages"}, "messages": msgs}
        path = out / "trajectory.json"
        path.write_text(json.dumps(data, indent=1, default=str))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, load_images: bool = True) -> Trajectory:
        """Read a saved trajectory; image parts become PIL images again unless load_images=False."""
        path = Path(path)
        if path.is_dir():
            path = path / "trajectory.json"
        d = json.loads(path.read_text())
        msgs = d.pop("messages")
        msgs = images_from_files(msgs, path.parent) if load_images else msgs
        turns = [TurnMeta(**t) for t in d.pop("turns")]
        log = [ToolRecord(**r) for r in d.pop("tool_log")]
        return cls(messages=msgs, turns=turns, tool_log=log, **d)


# ---------------------------------------------------------------------------------------------- chat datasets

def save_chat_dataset(trajectories: list[Trajectory], out_dir: str | os.PathLike, name: str = "sft.jsonl",
                      append: bool = False) -> Path:
    """Write trajectories as one chat dataset: ``out_dir/name`` (one JSON line per episode: ``id``,
    ``sample_id``, ``messages``) with every image saved under ``out_dir/images/`` and referenced by relative path.

    This is the format the SFT trainer reads (``load_chat_dataset``) and the pipeline writes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    mode = "a" if append else "w"
    with path.open(mode, encoding="utf-8") as fh:
        for t in trajectories:
            msgs = images_to_files(t.messages, out, prefix=f"{file_name(t.sample_id)}_")  # <id>_NNN.png: injective
            rec = {"id": f"{t.sample_id}:{t.policy}", "sample_id": t.sample_id, "messages": msgs,
                   "n_tool_calls": t.n_tool_calls, "n_frames": t.n_frames}
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
    return path


ROLES = ("system", "user", "assistant", "tool")


def without_tools(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The same episode as if no tools had been offered: the opening (its last text ending with
    ``protocol.NO_TOOLS_TEXT``, as ``env.opening_messages`` writes it for ``config.no_tool_env``) and the final
    answer turn; the tool rounds between are gone. None when the episode made no tool call or ended without an
    answer-only turn (nothing to add). The input is not changed.

    >>> msgs = [{"role": "user", "content": [{"type": "text", "text": "Q?"}]},
    ...         {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "view_visual_prompt"}}]},
    ...         {"role": "tool", "content": "ok"}, {"role": "assistant", "content": "<answer>A</answer>"}]
    >>> [m["role"] for m in without_tools(msgs)], without_tools(msgs)[0]["content"][0]["text"].splitlines()[-1][:9]
    (['user', 'assistant'], 'Tools are')
    """
    from seekerlite.protocol import tools_off

    first = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
    last = messages[-1] if messages else {}
    if first is None or last.get("role") != "assistant" or last.get("tool_calls") \
            or not any(m.get("tool_calls") for m in messages[first + 1:]):
        return None
    opening = [dict(m) for m in messages[: first + 1]]
    content = opening[-1].get("content")
    parts = [dict(p) for p in content] if isinstance(content, list) else [{"type": "text", "text": str(content or "")}]
    k = max((i for i, p in enumerate(parts) if p.get("type") == "text"), default=None)
    if k is None:
        parts.append({"type": "text", "text": tools_off("").lstrip()})
    else:
        parts[k]["text"] = tools_off(parts[k]["text"])
    opening[-1]["content"] = parts
    return opening + [dict(last)]


def chat_record_problem(rec: Any, base: Path) -> str | None:
    """What is wrong with one chat record ("field '...': ..."), or None. Checked: ``messages`` is a non-empty list
    of {role, content} with at least one assistant turn; content is text or a list of text/image parts; an image
    part names a file inside `base` that exists; tool calls are {function: {name, arguments}}."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    msgs = rec.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "field 'messages': want a non-empty list of messages"
    for i, m in enumerate(msgs):
        at = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return f"field '{at}.role': want one of {list(ROLES)}, got {m.get('role') if isinstance(m, dict) else m!r}"
        content = m.get("content")
        parts = content if isinstance(content, list) else [] if content is None or isinstance(content, str) else None
        if parts is None:
            return f"field '{at}.content': want text or a list of parts, got {type(content).__name__}"
        for k, p in enumerate(parts):
            kind = p.get("type") if isinstance(p, dict) else None
            if kind == "text" and isinstance(p.get("text"), str):
                continue
            if kind != "image" or not isinstance(p.get("image"), str):
                return f"field '{at}.content[{k}]': want {{\"type\": \"text\", \"text\"}} or {{\"type\": \"image\", \"image\": path}}"
            try:
                image = inside(base, p["image"])
            except ValueError as e:
                return f"field '{at}.content[{k}].image': {e}"
            if not image.is_file():
                return f"field '{at}.content[{k}].image': no such image {image}"
        for k, c in enumerate(m.get("tool_calls") or []):
            fn = c.get("function") if isinstance(c, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments", {}), dict):
                return f"field '{at}.tool_calls[{k}]': want {{\"function\": {{\"name\": str, \"arguments\": {{...}}}}}}"
    if not any(m["role"] == "assistant" for m in msgs):
        return "field 'messages': no assistant turn (nothing to learn from)"
    return None


def load_chat_dataset(path: str | os.PathLike, load_images: bool = True) -> list[dict[str, Any]]:
    """Read a chat dataset written by `save_chat_dataset`; image parts become PIL images unless load_images=False.

    Every record is checked (``chat_record_problem``) before anything uses it, so a malformed dataset fails here,
    before a model is loaded, not after training started.

    Raises:
        FileNotFoundError: no such file. SchemaError: "<file>:<line>: field '...': ..." (invalid UTF-8 and JSON too).
    """
    path = Path(path)
    base = path.parent
    out = []
    for lineno, rec in iter_json_lines(path):
        problem = chat_record_problem(rec, base)
        if problem is not None:
            raise SchemaError(f"{path}:{lineno}: not a chat record: {problem}")
        if load_images:
            rec["messages"] = images_from_files(rec["messages"], base)
        out.append(rec)
    return out
