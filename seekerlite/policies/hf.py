"""A transformers VLM as a policy (Qwen3-VL, the embedded tiny model), generating for several episodes at once.

    policy = HFPolicy(student.model, student.processor, max_new_tokens=128)
    trajs = run_episodes(policy, samples, EnvConfig(), base_dir=base, batch_size=8)
"""

from __future__ import annotations

from typing import Any

from seekerlite.env import VideoSeekerEnv, tool_methods
from seekerlite.grammar import parse_generated
from seekerlite.models.compat import processor_call_kwargs, vision_pad_ids
from seekerlite.policies.loop import PolicyReply


class HFPolicy:
    """Any transformers VLM with a chat template that knows tools; greedy unless ``do_sample``."""

    def __init__(self, model: Any, processor: Any, *, max_new_tokens: int = 128, do_sample: bool = False,
                 temperature: float = 1.0, name: str = "hf") -> None:
        self.model, self.processor, self.name = model, processor, name
        self.gen_kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, do_sample=do_sample,
                                               suppress_tokens=vision_pad_ids(processor) or None)
        if do_sample:
            self.gen_kwargs["temperature"] = temperature

    def act(self, messages: list[dict[str, Any]], env: VideoSeekerEnv) -> PolicyReply:
        return self.act_batch([messages], [env])[0]

    def act_batch(self, batch: list[list[dict[str, Any]]], envs: list[VideoSeekerEnv]) -> list[PolicyReply]:
        import torch

        tok = self.processor.tokenizer
        tok.padding_side = "left"
        inputs = self.processor.apply_chat_template(
            batch, tools=tool_methods(envs[0]), add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt", **processor_call_kwargs(self.processor, padding=True))
        inputs = inputs.to(self.model.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, **self.gen_kwargs, pad_token_id=tok.pad_token_id)
        width = inputs["input_ids"].shape[1]
        replies = []
        for row, mask, gen in zip(inputs["input_ids"], inputs["attention_mask"], out[:, width:]):
            prompt_ids = row[mask.bool()].tolist()
            ids = gen.tolist()
            ends = [i for i, t in enumerate(ids) if t in (tok.eos_token_id, tok.pad_token_id)]
            ids = ids[: ends[0]] if ends else ids
            parsed = parse_generated(tok, ids, prompt_ids)
            replies.append(PolicyReply(parsed.text, parsed, len(prompt_ids), len(ids)))
        return replies
