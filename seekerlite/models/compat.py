"""Small shims over library versions (transformers 5.17, what unsloth pins, and the latest), in one place.

    processor.apply_chat_template(batch, ..., **processor_call_kwargs(processor, padding=True))
    model.generate(**inputs, suppress_tokens=vision_pad_ids(processor))
"""

from __future__ import annotations

import inspect
from typing import Any

VISION_PAD_TOKENS = ("<|image_pad|>", "<|video_pad|>")  # placeholders the processor expands; never generated


def processor_call_kwargs(processor: Any, **kwargs: Any) -> dict[str, Any]:
    """Options for the processor's own call inside `apply_chat_template`: newer transformers (>= 5.2x) want them
    in `processor_kwargs` (and warn otherwise), older ones (5.17) take them as keywords."""
    if "processor_kwargs" in inspect.signature(processor.apply_chat_template).parameters:
        return {"processor_kwargs": kwargs}
    return kwargs


def vision_pad_ids(processor: Any) -> list[int]:
    """Token ids of the image/video placeholders: a sampled one makes the next forward pass fail ("Image features
    and image tokens do not match"), so every generation suppresses them."""
    tok = getattr(processor, "tokenizer", processor)
    ids = [tok.convert_tokens_to_ids(t) for t in VISION_PAD_TOKENS]
    return [i for i in ids if isinstance(i, int) and i != getattr(tok, "unk_token_id", None) and i >= 0]
