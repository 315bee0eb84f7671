"""``seekerlite plan``: tokens per episode and peak GPU memory per training phase, before anything is loaded.

    seekerlite plan --model 2b --frames-per-call 8 --tool-rounds 3 --gpu-gb 16
    plan = make_plan("4b", EnvConfig(frames_per_call=16), gpu_gb=16)     # a Plan: phases, settings, fits

The arithmetic (docs/gpu.md explains every term; tests/test_plan.py checks the activation and token terms against
measured CPU runs) covers QLoRA on one GPU: NF4 base weights, LoRA r=16 on every language linear layer, AdamW
in float32, bfloat16/float16 compute, non-reentrant checkpointing per decoder layer. Model sizes come from the
architecture (parameters counted on the meta device, no weights loaded): ``2b``/``4b``/``8b`` are the
Qwen3-VL-*-Instruct architectures, a PATH is any folder with a ``config.json``.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from seekerlite.budget import episode_budget
from seekerlite.config import EnvConfig, is_tiny

GIB = 1024 ** 3
CUDA_OVERHEAD_GIB = 0.9  # CUDA context, cuBLAS workspace, allocator fragmentation (measured 0.6-1.2 GiB)
NF4_BYTES = 0.5 + 4 / 64 / 8 + 4 / 256 / 64  # 4 bits + double-quantized absmax: 8-bit per 64 weights, fp32 per 256 blocks
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# text / vision architectures of Qwen/Qwen3-VL-{2B,4B,8B}-Instruct (their config.json; 8B = transformers' defaults)
ARCHS: dict[str, dict[str, Any]] = {
    "2b": {"text": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                        num_key_value_heads=8, head_dim=128, vocab_size=151936), "tie": True,
           "vision": dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, out_hidden_size=2048,
                          deepstack_visual_indexes=[5, 11, 17])},
    "4b": {"text": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                        num_key_value_heads=8, head_dim=128, vocab_size=151936), "tie": True,
           "vision": dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, out_hidden_size=2560,
                          deepstack_visual_indexes=[5, 11, 17])},
    "8b": {"text": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                        num_key_value_heads=8, head_dim=128, vocab_size=151936), "tie": False,
           "vision": dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, out_hidden_size=4096,
                          deepstack_visual_indexes=[8, 16, 24])},
}


@dataclass(frozen=True)
class ModelSpec:
    """What the memory arithmetic needs of a model."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    linear_params: int  # parameters in nn.Linear layers (NF4 under QLoRA; lm_head excluded)
    other_params: int  # embeddings, norms, lm_head, vision patch/position embeddings (compute dtype)
    lora_params: int  # LoRA r=16 on LORA_TARGETS of every decoder layer

    @property
    def params(self) -> int:
        return self.linear_params + self.other_params

    @property
    def size_b(self) -> float:
        return self.params / 1e9


def qwen3_vl_config(name: str) -> Any:
    """A ``Qwen3VLConfig`` for "2b" | "4b" | "8b" (the released architectures, random weights)."""
    from transformers import Qwen3VLConfig

    from seekerlite.models.tiny import qwen3_vl_2b_config

    base = qwen3_vl_2b_config().to_dict()
    arch = ARCHS[name.lower()]
    text, vision = base["text_config"] | arch["text"], base["vision_config"] | arch["vision"]
    top = {k: base[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=arch["tie"], **top)


def model_spec(model: str, lora_r: int = 16) -> ModelSpec:
    """The spec of "2b"/"4b"/"8b", a hub id naming one of them, "tiny", or a folder with a config.json (its
    parameters counted on the meta device)."""
    import torch
    from transformers import AutoConfig, Qwen3VLForConditionalGeneration

    key = _size_key(model)
    if key:
        config = qwen3_vl_config(key)
    elif is_tiny(model):
        from seekerlite.models.tiny import ensure_tiny_model

        config = AutoConfig.from_pretrained(ensure_tiny_model())
    elif (Path(model).expanduser() / "config.json").is_file():
        config = AutoConfig.from_pretrained(Path(model).expanduser())
    else:
        raise ValueError(f"plan --model: want 2b, 4b, 8b, a Qwen3-VL hub id naming its size, or a folder with a "
                         f"config.json; got {model!r}")
    return spec_from_config(config, name=key or Path(model).name, lora_r=lora_r,
                            model_cls=Qwen3VLForConditionalGeneration, torch=torch)


def spec_from_config(config: Any, name: str, lora_r: int = 16, model_cls: Any = None, torch: Any = None) -> ModelSpec:
    """Count a config's parameters by kind on the meta device (nothing is allocated)."""
    if torch is None:
        import torch
    if model_cls is None:
        from transformers import AutoModelForImageTextToText

        model_cls = AutoModelForImageTextToText
    with torch.device("meta"):
        model = model_cls.from_config(config) if hasattr(model_cls, "from_config") else model_cls(config)
    linear = other = lora = 0
    seen: set[int] = set()  # tied weights (lm_head = embed_tokens) count once
    for mod_name, mod in model.named_modules():
        own = sum(p.numel() for p in mod.parameters(recurse=False) if id(p) not in seen)
        seen.update(id(p) for p in mod.parameters(recurse=False))
        if isinstance(mod, torch.nn.Linear) and not mod_name.endswith("lm_head"):
            linear += own
            if re.search(r"language_model\.layers\.\d+\.", mod_name) and mod_name.rsplit(".", 1)[-1] in LORA_TARGETS:
                lora += lora_r * (mod.in_features + mod.out_features)
        else:
            other += own
    t = config.text_config
    return ModelSpec(name=name, hidden=t.hidden_size, intermediate=t.intermediate_size, layers=t.num_hidden_layers,
                     heads=t.num_attention_heads, kv_heads=t.num_key_value_heads,
                     head_dim=getattr(t, "head_dim", None) or t.hidden_size // t.num_attention_heads,
                     vocab=t.vocab_size, linear_params=linear, other_params=other, lora_params=lora)


def _size_key(model: str) -> str | None:
    m = model.lower()
    if m in ARCHS:
        return m
    hit = re.search(r"qwen3-vl-(\d+)b", m)
    return f"{hit.group(1)}b" if hit and f"{hit.group(1)}b" in ARCHS else None


# ---------------------------------------------------------------------------------------------- the arithmetic

def activation_elements_per_token(s: ModelSpec) -> int:
    """Elements autograd keeps per token per decoder layer (LoRA on every linear, SDPA attention, SwiGLU MLP):
    the two RMSNorms' inputs and outputs (4h), q/k before their QK-norm, q/k/v after it and the attention output
    (nq + nkv + nq + 2nkv + nq head dims), and the MLP's gate, silu(gate), up and their product (4I)."""
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    return 4 * s.hidden + (3 * q + 3 * kv) + 4 * s.intermediate


def activation_bytes(s: ModelSpec, tokens: int, dtype_bytes: int = 2, checkpointing: bool = True) -> int:
    """Activations of one forward+backward over `tokens` tokens: every layer's (no checkpointing), or each layer's
    input hidden state plus one layer recomputed in backward (non-reentrant checkpointing per decoder layer).
    SDPA keeps no tokens^2 attention matrix (flash / memory-efficient kernels; measured on the CPU too)."""
    per_layer = activation_elements_per_token(s) * tokens * dtype_bytes
    if not checkpointing:
        return s.layers * per_layer
    return checkpoint_bytes(s, tokens, dtype_bytes) + per_layer


def checkpoint_bytes(s: ModelSpec, tokens: int, dtype_bytes: int = 2) -> int:
    """What checkpointing keeps between forward and backward: every decoder layer's input hidden state."""
    return s.layers * s.hidden * tokens * dtype_bytes


TRL_TOKEN_TILE, TRL_VOCAB_TILE = 4096, 32768  # trl.kernels.chunked_logprob TOKEN_CHUNK_SIZE; _CHUNKED_LOGPROB_CHUNK_SIZE


def logprob_chunk_bytes(s: ModelSpec, tokens: int, dtype_bytes: int = 2) -> int:
    """TRL's fused LM head (SFT and GRPO, trl >= 1.15): log-probs computed in [4096 tokens x 32768 vocab] tiles,
    never the full logits; a tile in the compute dtype plus its float32 softmax/gradient, and the float32
    gradient of the hidden states it projects."""
    tile = min(tokens, TRL_TOKEN_TILE) * min(s.vocab, TRL_VOCAB_TILE) * (dtype_bytes + 4)
    return tile + tokens * s.hidden * 4


def kv_cache_bytes(s: ModelSpec, tokens: int, dtype_bytes: int = 2) -> int:
    """Keys and values of every layer for `tokens` positions (generation)."""
    return 2 * s.layers * s.kv_heads * s.head_dim * tokens * dtype_bytes


def weight_bytes(s: ModelSpec, four_bit: bool = True, dtype_bytes: int = 2) -> int:
    return int(s.linear_params * (NF4_BYTES if four_bit else dtype_bytes) + s.other_params * dtype_bytes)


def lora_optimizer_bytes(s: ModelSpec) -> int:
    """LoRA weights, gradients and AdamW's two moments, all float32 (16 bytes per adapter parameter)."""
    return 16 * s.lora_params


@dataclass
class Plan:
    """Tokens and peak memory (GiB) per phase for one model, environment and GPU, with the settings it picks."""

    model: str
    params_b: float
    gpu_gb: float
    budget: dict[str, int]
    phases: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> {term: GiB}
    settings: dict[str, Any] = field(default_factory=dict)
    fits: bool = True
    notes: list[str] = field(default_factory=list)

    def peak(self, phase: str) -> float:
        return round(sum(self.phases[phase].values()), 2)

    def table(self) -> str:
        b = self.budget
        lines = [f"# {self.model}: {self.params_b:.2f} B parameters, {self.gpu_gb:g} GB GPU",
                 f"tokens per episode: prompt {b['prompt_tokens']} + completion {b['completion_tokens']} = "
                 f"{b['total_tokens']} ({b['frames']} returned frames x {b['frame_tokens']} tokens; largest tool "
                 f"result {b['tool_result_tokens']})", "", "| phase | " + " | ".join(("peak GiB", "terms")) + " |",
                 "|---|---|---|"]
        for name, terms in self.phases.items():
            lines.append(f"| {name} | {self.peak(name):.2f} | "
                         + ", ".join(f"{k} {v:.2f}" for k, v in terms.items() if v >= 0.005) + " |")
        flags = [f"--{'no-' if v is False else ''}{k.replace('_', '-')}" + ("" if isinstance(v, bool) else f" {v}")
                 for k, v in self.settings.items()]
        lines += ["", "recommended (GRPO): " + " ".join(flags),
                  "fits: " + ("yes" if self.fits else "NO - " + "; ".join(self.notes))]
        return "\n".join(lines)


def make_plan(model: str, env: EnvConfig | None = None, gpu_gb: float = 16.0, num_generations: int = 4,
              reply_tokens: int = 256, lora_r: int = 16, spec: ModelSpec | None = None) -> Plan:
    """Peak memory per phase of QLoRA SFT and GRPO for `model` on a `gpu_gb` card, and the largest micro-batches
    that fit (checkpointing on; off only where everything fits without it)."""
    env = env or EnvConfig()
    s = spec or model_spec(model, lora_r)
    b = episode_budget(env, reply_tokens=reply_tokens)
    gib = lambda x: round(x / GIB, 3)
    base = {"weights": gib(weight_bytes(s)), "lora+optimizer": gib(lora_optimizer_bytes(s)),
            "cuda overhead": CUDA_OVERHEAD_GIB}
    limit = gpu_gb * 1e9 / GIB  # cards are sold in GB
    plan = Plan(model=model, params_b=s.size_b, gpu_gb=gpu_gb, budget=asdict(b) | {"total_tokens": b.total_tokens})

    def sft(batch: int, ckpt: bool) -> dict[str, float]:
        t = batch * b.total_tokens
        return base | {"activations": gib(activation_bytes(s, t, checkpointing=ckpt)),
                       "log-prob chunks": gib(logprob_chunk_bytes(s, t))}

    def grpo_gen(rows: int) -> dict[str, float]:
        return base | {"kv cache": gib(kv_cache_bytes(s, rows * b.total_tokens))}

    def grpo_train(micro: int, ckpt: bool) -> dict[str, float]:
        t = micro * b.total_tokens
        chunk = logprob_chunk_bytes(s, micro * b.completion_tokens)  # TRL: log-probs of completion tokens only
        return base | {"activations": gib(activation_bytes(s, t, checkpointing=ckpt)), "log-prob chunks": gib(chunk)}

    plan.phases["SFT step, batch 1, no checkpointing"] = sft(1, False)
    plan.phases["SFT step, batch 1, checkpointing"] = sft(1, True)
    plan.phases[f"GRPO generation, {num_generations} rollouts"] = grpo_gen(num_generations)
    plan.phases[f"GRPO step, micro-batch {num_generations}, no checkpointing"] = grpo_train(num_generations, False)
    micro = num_generations
    while micro > 1 and sum(grpo_train(micro, True).values()) > limit:
        micro //= 2
    plan.phases[f"GRPO step, micro-batch {micro}, checkpointing"] = grpo_train(micro, True)
    no_ckpt_fits = all(plan.peak(k) <= limit for k in plan.phases if "no checkpointing" in k)
    micro = num_generations if no_ckpt_fits else micro
    plan.settings = {"grad_ckpt": not no_ckpt_fits, "batch_size": micro,
                     "grad_accum": max(1, num_generations // micro), "num_generations": num_generations,
                     "max_completion_length": b.completion_tokens}
    for name in plan.phases:
        if "no checkpointing" in name:
            continue
        if plan.peak(name) > limit:
            plan.fits = False
            plan.notes.append(f"{name} needs {plan.peak(name):.1f} GiB > {limit:.1f}: fewer --frames-per-call, "
                              f"--tool-rounds or a smaller --max-pixels")
    return plan


def trainer_defaults(model_id: str, trainer: str, gpu_gb: float = 16.0) -> dict[str, Any]:
    """Micro-batch and accumulation for a real checkpoint on a `gpu_gb` card (the trainers' ``for_model``): SFT
    batch 1 x 8 accumulation; GRPO one group of 4 per step, split into micro-batches by model size (2B: 4, 4B: 2,
    8B and larger or unknown: 1). Read from the name or the folder's config.json, never from weights."""
    size = _size_key(model_id)
    if size is None and (Path(model_id).expanduser() / "config.json").is_file():
        t = json.loads((Path(model_id).expanduser() / "config.json").read_text()).get("text_config", {})
        size = "2b" if t.get("hidden_size", 4096) <= 2048 else "4b" if t.get("hidden_size", 4096) <= 2560 else "8b"
    if trainer == "sft":
        return {"per_device_train_batch_size": 1, "gradient_accumulation_steps": 8}
    micro = {"2b": 4, "4b": 2}.get(size or "8b", 1) if gpu_gb <= 24 else 4
    return {"num_generations": 4, "per_device_train_batch_size": micro, "gradient_accumulation_steps": 4 // micro}


# ---------------------------------------------------------------------------------------------- command line

def main_plan(argv: list[str] | None = None) -> int:
    """``seekerlite plan --model 2b|4b|8b|PATH [--frames-per-call N] [--tool-rounds R] [--gpu-gb G]``."""
    from seekerlite.cliargs import add_config_arguments, config_from_args

    p = argparse.ArgumentParser(prog="seekerlite plan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", dest="_model", default="2b", help="2b | 4b | 8b | a Qwen3-VL hub id | a model folder")
    p.add_argument("--gpu-gb", dest="_gpu_gb", type=float, default=16.0, help="GPU memory in GB (default 16)")
    p.add_argument("--num-generations", dest="_g", type=int, default=4, help="GRPO group size (default 4)")
    p.add_argument("--reply-tokens", dest="_reply", type=int, default=256, help="tokens of one model reply")
    p.add_argument("--json", dest="_json", action="store_true", help="print the plan as JSON")
    add_config_arguments(p, EnvConfig)
    args = p.parse_args(argv)
    extra = {k: args.__dict__.pop(k) for k in list(vars(args)) if k.startswith("_")}
    env, _ = config_from_args(EnvConfig, args)
    env = replace(env, max_total_frames=max(env.max_total_frames, env.frames_per_call))
    plan = make_plan(extra["_model"], env, extra["_gpu_gb"], extra["_g"], extra["_reply"])
    print(json.dumps(asdict(plan), indent=1) if extra["_json"] else plan.table())
    return 0 if plan.fits else 1

