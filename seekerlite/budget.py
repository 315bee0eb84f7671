"""Token budgets of an episode, derived from the environment and the processor, never guessed.

    vision = VisionRule.from_processor(processor)       # the processor's own resize rule (patch x merge, pixel limits)
    text = TextCosts.from_processor(processor)          # the chat template's wrappers, measured with its tokenizer
    b = episode_budget(env, vision, text)               # b.completion_tokens -> GRPO max_completion_length
    completion_length(None, b), sft_length(4096, b)     # derived when unset; an explicit value too small is refused

An episode is a prompt (system prompt + tool schemas + the user turn: marked frame, overview frames, question)
and a completion (``max_tool_rounds + 1`` model replies with a tool result after each of the first
``max_tool_rounds``). A frame costs ``label + 2 + V`` tokens: its ``<t.t seconds>`` label, ``<|vision_start|>``
/ ``<|vision_end|>`` and ``V = (h / f) * (w / f)`` visual tokens after the processor's ``smart_resize``
(``f = patch_size * merge_size``: 32 for Qwen3-VL). Qwen3-VL at the paper's 336 x 336 budget: V = 100-110; the
tiny model (128 x 128 processor limit): V = 16. TRL's tool loop drops a tool result that would overflow
``max_completion_length`` and ends the rollout without saying so; the trainers therefore derive the length from
this budget, and ``dropped_tool_results`` counts what a run still lost (GRPO logs it per step).

Without a tokenizer (the planner for checkpoints that are not on this machine) ``TextCosts.estimate`` counts
characters / 3 for the same strings: Qwen's 151k-token vocabulary averages ~4 characters per English token.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from seekerlite.config import EnvConfig
from seekerlite.images import MAX_ASPECT, MIN_SIDE

CHARS_PER_TOKEN = 3.0  # estimate of text length without a tokenizer (conservative for Qwen's BPE)
WORST_LABEL = "<9999.9 seconds>"
WORST_CROP_HEADER = ("64 frames from 9999.9 to 9999.9 seconds, region [1000, 1000, 1000, 1000] (pixels [9999, 9999, "
                     "9999, 9999]) (64 corrupt frames skipped):")  # the longest text env.crop_video writes
WORST_VIEW_TEXT = "The target is marked with a mask contour at <9999.9 seconds>."
WORST_ERROR = "Error: " + "x" * 240  # error observations are capped near 200 characters of cause
OPENING_TEXT = ("The video lasts 9999.9 seconds. The marked instance, at <9999.9 seconds>:"
                "Overview of the video (64 frames):Answer with the option's letter.")


# ---------------------------------------------------------------------------------------------- images

@functools.cache
def _smart_resize() -> Any:
    """The processor's own rule: transformers' Qwen2-VL ``smart_resize``, which Qwen3-VL's image processors use."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    return smart_resize


@dataclass(frozen=True)
class VisionRule:
    """How the image processor sizes an image: side multiple ``patch_size * merge_size``, pixel limits."""

    patch_size: int = 16  # Qwen3-VL
    merge_size: int = 2
    min_pixels: int = 4096  # the processor's size["shortest_edge"] (pixels, despite the name)
    max_pixels: int = 336 * 336  # size["longest_edge"]; the real checkpoint ships 16777216 (see fit_processor)

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    @classmethod
    def from_processor(cls, processor: Any) -> VisionRule:
        """The rule of a ``Qwen3VLProcessor`` (or its image processor)."""
        ip = getattr(processor, "image_processor", processor)
        size = ip.size
        get = size.get if isinstance(size, dict) else lambda k, d=None: getattr(size, k, d)
        lo = get("shortest_edge") or get("min_pixels") or getattr(ip, "min_pixels", None)
        hi = get("longest_edge") or get("max_pixels") or getattr(ip, "max_pixels", None)
        if not lo or not hi:
            raise ValueError(f"{type(ip).__name__}.size has no pixel limits (shortest_edge/longest_edge): {size}")
        return cls(int(ip.patch_size), int(ip.merge_size), int(lo), int(hi))

    def tokens(self, height: int, width: int) -> int:
        """Visual tokens of one image of height x width pixels (after the processor's resize and merge).

        >>> VisionRule().tokens(336, 336), VisionRule(min_pixels=64 * 64, max_pixels=128 * 128).tokens(336, 336)
        (100, 16)
        """
        h, w = _smart_resize()(height, width, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels)
        return (h // self.factor) * (w // self.factor)

    def frame_tokens(self, budget_pixels: int, size: tuple[int, int] | None = None) -> int:
        """Visual tokens of a frame the environment scaled to `budget_pixels` (``images.fit_for_processor``):
        exact for a frame of ``size = (width, height)``, else the most any aspect ratio the env allows can give."""
        if size is not None:
            return self.tokens(*_fitted_shape(size[1], size[0], budget_pixels))
        return _worst_tokens(self, budget_pixels)


def _fitted_shape(height: int, width: int, budget_pixels: int) -> tuple[int, int]:
    """(h, w) of ``fit_for_processor`` on a height x width image (the function itself, on a 1-channel array)."""
    import numpy as np

    from seekerlite.images import fit_for_processor

    return fit_for_processor(np.zeros((height, width), np.uint8), budget_pixels).shape[:2]


@functools.lru_cache(maxsize=256)
def _worst_tokens(rule: VisionRule, budget_pixels: int) -> int:
    """Max visual tokens over every (h, w) fit_for_processor can return for `budget_pixels` (exhaustive on h)."""
    side = max(1, min(MIN_SIDE, math.isqrt(budget_pixels)))
    best = 0
    for h in range(side, math.isqrt(budget_pixels) + 1):
        w_max = min(budget_pixels // h, int(h * MAX_ASPECT))
        for w in range(max(h, w_max - 2 * rule.factor), w_max + 1):  # tokens grow with w up to rounding steps
            best = max(best, rule.tokens(h, w))
    return best


def fit_processor(processor: Any, env: EnvConfig) -> Any:
    """Lower the image processor's pixel limit to the environment's largest frame budget (never raise it), so no
    frame costs more than ``max_pixels / 32^2`` tokens whatever its shape (the real checkpoint's limit, 16.7 M
    pixels, lets a thin crop round up to ~150 tokens at 336^2). Returns the processor (changed in place)."""
    ip = getattr(processor, "image_processor", processor)
    rule = VisionRule.from_processor(ip)
    hi = min(rule.max_pixels, max(env.max_pixels, env.overview_max_pixels))
    lo = min(rule.min_pixels, hi)
    if (lo, hi) != (rule.min_pixels, rule.max_pixels):
        values = {"shortest_edge": lo, "longest_edge": hi}
        ip.size = values if isinstance(ip.size, dict) else type(ip.size)(**values)
    return processor


# ---------------------------------------------------------------------------------------------- text

@dataclass(frozen=True)
class TextCosts:
    """Token counts of the text around the frames (measured with a tokenizer, or estimated)."""

    system: int  # system prompt + tool schemas + the template's wrappers of the first two turns
    opening: int  # the user turn's own text, question excluded (duration, labels' captions, answer form)
    question: int  # allowance for the question and its options
    label: int  # one "<t.t seconds>" label
    image_wrap: int  # <|vision_start|> + <|vision_end|> around every image
    tool_wrap: int  # the template around one tool result (TRL's tool suffix: user/tool_response tags, next header)
    crop_header: int  # the longest text line a crop_video result starts with
    view_text: int  # the text of a view_visual_prompt result
    error: int  # the longest error observation
    reply_end: int = 1  # <|im_end|> closing each model reply

    @classmethod
    def estimate(cls, question_chars: int = 480, chars_per_token: float = CHARS_PER_TOKEN) -> TextCosts:
        """Costs from character counts (no tokenizer): the same strings ``from_processor`` measures."""
        from seekerlite.env import tool_schemas
        from seekerlite.protocol import SYSTEM_PROMPT

        n = lambda s: math.ceil(len(s) / chars_per_token)
        tools = "\n".join(str(t) for t in tool_schemas())
        return cls(system=n(SYSTEM_PROMPT) + n(tools) + 120, opening=n(OPENING_TEXT) + 12,
                   question=math.ceil(question_chars / chars_per_token), label=n(WORST_LABEL), image_wrap=2,
                   tool_wrap=12, crop_header=n(WORST_CROP_HEADER), view_text=n(WORST_VIEW_TEXT),
                   error=n(WORST_ERROR))

    @classmethod
    def from_processor(cls, processor: Any, question_tokens: int = 160) -> TextCosts:
        """Costs measured with the processor's tokenizer and chat template (TRL's way for the tool suffix)."""
        from seekerlite.env import tool_schemas
        from seekerlite.protocol import SYSTEM_PROMPT

        tok = getattr(processor, "tokenizer", processor)
        n = lambda s: len(tok.encode(s, add_special_tokens=False))
        render = lambda msgs, **kw: processor.apply_chat_template(msgs, tokenize=False, **kw)
        system = [{"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}]
        user = [{"role": "user", "content": [{"type": "text", "text": ""}]}]
        call = [{"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "crop_video", "arguments": {}}}]}]
        tool = [{"role": "tool", "name": "crop_video", "content": [{"type": "text", "text": ""}]}]
        opening = n(render(system + user, tools=tool_schemas(), add_generation_prompt=True))
        before = render(user + call)
        suffix = render(user + call + tool, add_generation_prompt=True)[len(before):]
        image = n("<|vision_start|><|image_pad|><|vision_end|>") - 1
        return cls(system=opening, opening=n(OPENING_TEXT), question=question_tokens, label=n(WORST_LABEL),
                   image_wrap=image, tool_wrap=n(suffix), crop_header=n(WORST_CROP_HEADER),
                   view_text=n(WORST_VIEW_TEXT), error=n(WORST_ERROR))


# ---------------------------------------------------------------------------------------------- the budget

@dataclass(frozen=True)
class EpisodeBudget:
    """The longest episode an environment allows, in tokens."""

    tokens_per_frame: int  # visual tokens of one returned frame (env.max_pixels)
    overview_tokens_per_frame: int  # visual tokens of one overview frame (env.overview_max_pixels)
    frame_tokens: int  # one returned frame with its label and vision start/end
    tool_result_tokens: int  # the largest single tool result, template included
    prompt_tokens: int  # system + tools + the opening user turn (marked frame, overview, question)
    completion_tokens: int  # every reply and tool result of the longest episode: GRPO's max_completion_length
    reply_tokens: int  # one model reply (thinking + a tool call or the answer): generation's max_new_tokens
    frames: int  # returned frames of the longest episode (tool calls)

    @property
    def total_tokens(self) -> int:
        """Prompt + completion: SFT's ``max_length``, the KV cache of one rollout."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def min_completion_tokens(self) -> int:
        """The least completion length that fits one reply, the largest tool result and a reply after it."""
        return 2 * self.reply_tokens + self.tool_result_tokens

    def describe(self) -> str:
        return (f"{self.frames} returned frames x {self.frame_tokens} tokens (V={self.tokens_per_frame}), largest "
                f"tool result {self.tool_result_tokens}, replies of {self.reply_tokens}: prompt {self.prompt_tokens}"
                f" + completion {self.completion_tokens} = {self.total_tokens} tokens")


def episode_budget(env: EnvConfig, vision: VisionRule | None = None, text: TextCosts | None = None, *,
                   reply_tokens: int = 128, frame_size: tuple[int, int] | None = None) -> EpisodeBudget:
    """The token budget of the longest episode `env` allows.

    Args:
        env: tool rounds, frames per call, frame budgets.
        vision: the processor's resize rule (default: Qwen3-VL with its limit lowered to 336^2).
        text: text costs (default: ``TextCosts.estimate()``).
        reply_tokens: tokens of one model reply.
        frame_size: (width, height) of the video, when known: exact frame costs; else the worst aspect ratio.
    """
    vision = vision or VisionRule()
    text = text or TextCosts.estimate()
    v = vision.frame_tokens(env.max_pixels, frame_size)
    v_overview = vision.frame_tokens(env.overview_max_pixels, frame_size)
    frame = text.label + text.image_wrap + v
    crop = lambda k: text.tool_wrap + text.crop_header + k * frame
    view = text.tool_wrap + text.view_text + text.image_wrap + v
    error = text.tool_wrap + text.error
    rounds, per_call = env.max_tool_rounds, env.frames_per_call
    best_tools, best_frames = 0, 0
    for n_crops in range(rounds + 1):  # crops spend the frame budget; views show the marked frame (not counted)
        left, total, frames = env.max_total_frames, 0, 0
        for _ in range(n_crops):
            k = min(per_call, left)
            total, frames, left = total + (crop(k) if k else error), frames + k, left - k
        total += (rounds - n_crops) * max(view, error)
        if total > best_tools:
            best_tools, best_frames = total, frames
    largest = max(crop(min(per_call, env.max_total_frames)), view, error) if rounds else 0
    prompt = (text.system + text.opening + text.question + text.label + text.image_wrap + v
              + env.overview_frames * (text.label + text.image_wrap + v_overview))
    completion = (rounds + 1) * (reply_tokens + text.reply_end) + best_tools
    return EpisodeBudget(tokens_per_frame=v, overview_tokens_per_frame=v_overview, frame_tokens=frame,
                         tool_result_tokens=largest, prompt_tokens=prompt, completion_tokens=completion,
                         reply_tokens=reply_tokens, frames=best_frames)


def processor_budget(env: EnvConfig, processor: Any, reply_tokens: int = 128) -> EpisodeBudget:
    """``episode_budget`` measured with a loaded processor (after ``fit_processor``)."""
    return episode_budget(env, VisionRule.from_processor(processor), TextCosts.from_processor(processor),
                          reply_tokens=reply_tokens)


def completion_length(explicit: int | None, budget: EpisodeBudget, name: str = "max_completion_length") -> int:
    """GRPO's completion length: `explicit` when given and large enough, else the budget's."""
    if explicit is None:
        return budget.completion_tokens
    if explicit < budget.min_completion_tokens:
        raise ValueError(
            f"{name}={explicit} is too small for one tool round: a reply ({budget.reply_tokens}) + the largest tool "
            f"result ({budget.tool_result_tokens}) + a reply after it = {budget.min_completion_tokens} tokens; "
            f"TRL would drop every such result silently. The whole episode needs {budget.completion_tokens} "
            f"({budget.describe()}); leave {name} unset to use that, or lower frames_per_call / max_pixels.")
    return explicit


def sft_length(explicit: int | None, budget: EpisodeBudget, name: str = "max_length") -> int:
    """SFT's longest episode: `explicit` when given and large enough for the prompt and one tool round."""
    if explicit is None:
        return budget.total_tokens
    least = budget.prompt_tokens + budget.min_completion_tokens
    if explicit < least:
        raise ValueError(
            f"{name}={explicit} is too small for the prompt ({budget.prompt_tokens}) and one tool round "
            f"({budget.min_completion_tokens}) = {least} tokens; the longest episode is {budget.total_tokens} "
            f"({budget.describe()}); leave {name} unset to use that.")
    return explicit


# ---------------------------------------------------------------------------------------------- dropped results

_DROPPED: dict[str, int] = {"tool_results_dropped": 0, "episodes_with_dropped_results": 0}


def count_dropped(environments: list[Any], completions: list[Any]) -> list[int]:
    """Per rollout, the tool results an environment served that never reached the model (TRL rolled them back
    because they overflowed ``max_completion_length``); adds them to ``dropped_tool_results()``."""
    out = []
    for env, completion in zip(environments or [], completions, strict=False):
        served = len(getattr(env, "log", []) or [])
        shown = sum(1 for m in completion if isinstance(m, dict) and m.get("role") == "tool") \
            if isinstance(completion, list) else 0
        dropped = max(0, served - shown)
        out.append(dropped)
        if dropped:
            _DROPPED["tool_results_dropped"] += dropped
            _DROPPED["episodes_with_dropped_results"] += 1
    return out


def dropped_tool_results() -> dict[str, int]:
    """Tool results dropped for length in this process so far (and the episodes they were in)."""
    return dict(_DROPPED)
