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


# ---------------------------------------------------------------------------------------------- precision

def device_capability(device: str | None = None) -> tuple[int, int] | None:
    """The CUDA compute capability of `device` ((8, 0) for an A100, (7, 5) for a T4), or None on a CPU."""
    import torch

    if device is not None and not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    return tuple(torch.cuda.get_device_capability(device if device and ":" in str(device) else None))  # type: ignore[return-value]


def compute_dtype_name(capability: tuple[int, int] | None) -> str:
    """The compute dtype for a device: float32 on a CPU, bfloat16 from compute capability 8.0 (Ampere) on, else
    float16. ``torch.cuda.is_bf16_supported()`` says True on a T4 (emulated, slow) and unsloth then loads float16
    and refuses ``bf16=True`` ("Model is in float16 precision but you want to use bfloat16").

    >>> compute_dtype_name(None), compute_dtype_name((7, 5)), compute_dtype_name((8, 0)), compute_dtype_name((9, 0))
    ('float32', 'float16', 'bfloat16', 'bfloat16')
    """
    if capability is None:
        return "float32"
    return "bfloat16" if tuple(capability) >= (8, 0) else "float16"


def precision_args(capability: tuple[int, int] | None, dtype: str | None = None) -> dict[str, bool]:
    """TRL/transformers mixed-precision flags matching the model's compute dtype (`dtype`, default the device's).

    >>> precision_args(None), precision_args((7, 0)), precision_args((8, 6))
    ({'bf16': False, 'fp16': False}, {'bf16': False, 'fp16': True}, {'bf16': True, 'fp16': False})
    """
    name = dtype or compute_dtype_name(capability)
    on_gpu = capability is not None
    return {"bf16": on_gpu and name == "bfloat16", "fp16": on_gpu and name == "float16"}


def checkpointing_args(config_cls: type, on: bool) -> dict[str, Any]:
    """Gradient-checkpointing arguments of a TrainingArguments class, always non-reentrant (reentrant
    checkpointing gives LoRA on the vision tower no gradient). transformers >= 5.2x renamed the field to
    ``activation_checkpointing`` (the old name warns there; 5.17 knows only the old one)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {key: on, f"{key}_kwargs": {"use_reentrant": False}} if on else {key: False}
