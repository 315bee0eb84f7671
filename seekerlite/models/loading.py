"""Loading a student: any Qwen3-VL (the tiny one, a folder, a hub id) on the right backend, and any trained folder.

    student = load_student(student_preset("tiny"))                  # every weight trainable, float32 on a CPU
    student = load_student(student_preset("Qwen/Qwen3-VL-2B-Instruct"), gradient_checkpointing=True)   # QLoRA
    student = load_trained("runs/grpo")                             # a run folder, an adapter, a model folder

Backends (``StudentConfig.backend``, "auto" picks): unsloth (4-bit or 16-bit LoRA, CUDA only), transformers +
bitsandbytes NF4 ("bnb-4bit": on the requested device, a CPU included), and full precision ("full").
``load_trained`` is the one way a trained folder is loaded, whatever wrote it: a run folder (its ``run.json``
says where the weights are and which student they belong to), a LoRA adapter folder (loaded onto the base its
``adapter_config.json`` names), or a plain model folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from seekerlite.config import (
    TINY,
    TINY_IDS,
    TINY_PRETRAINED,
    LoraSettings,
    StudentConfig,
    student_preset,
)
from seekerlite.models.compat import compute_dtype_name, device_capability


@dataclass
class Student:
    """A loaded student: the model (PEFT-wrapped when LoRA is on), its processor, and how it was loaded."""

    model: Any  # transformers / PEFT model
    processor: Any  # Qwen3VLProcessor; its tokenizer carries TRL's response schema when recognised
    backend: str  # "unsloth" | "bnb-4bit" | "full"
    device: str  # "cuda" | "cpu" | ...
    model_path: str = ""  # the folder or hub id actually loaded (the base, for an adapter)
    config: StudentConfig | None = None  # the settings it was loaded with


def resolve_backend(cfg: StudentConfig) -> tuple[str, str]:
    """(backend, device) that ``load_student`` will use for `cfg`, without importing unsloth or transformers."""
    import torch

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_cuda = device.startswith("cuda")
    unsloth_ok = on_cuda and importlib.util.find_spec("unsloth") is not None  # never import it without a GPU
    backend = choose_backend(on_cuda, unsloth_ok, cfg.load_in_4bit) if cfg.backend == "auto" else cfg.backend
    return backend, device


def import_unsloth_first(cfg: StudentConfig | None) -> bool:
    """Import unsloth now when it will be the backend, before transformers/trl/peft (unsloth patches them on
    import and warns that importing it later costs speed and memory). Call it first thing in a run; returns
    whether unsloth was imported. Warns when transformers came first anyway."""
    import sys
    import warnings

    if cfg is None or resolve_backend(cfg)[0] != "unsloth":
        return False
    if "unsloth" not in sys.modules:
        late = [m for m in ("transformers", "trl", "peft") if m in sys.modules]
        if late:
            warnings.warn(f"seekerlite: {', '.join(late)} was imported before unsloth; unsloth patches them on import "
                          "(import seekerlite's trainers before anything that imports transformers)", stacklevel=2)
        import unsloth  # noqa: F401
    return True


@contextlib.contextmanager
def inference_mode(model: Any, backend: str) -> Iterator[Any]:
    """Evaluation inside training: unsloth's ``for_inference``/``for_training`` (its fast generation path and
    back), else ``eval()`` and the previous ``train()`` state."""
    was_training = model.training
    fast = None
    if backend == "unsloth":
        from unsloth import FastVisionModel

        fast = FastVisionModel
        fast.for_inference(model)
    else:
        model.eval()
    try:
        yield model
    finally:
        if fast is not None and was_training:
            fast.for_training(model)
        model.train(was_training)


def merge_adapter(folder: str | Path, student: StudentConfig) -> Any:
    """The adapter in `folder` merged into its base loaded in the compute dtype (bfloat16/float16 on a GPU, never
    4-bit and never float32 there): the plain model a merged folder holds (4.3 GB for 2B in bfloat16)."""
    unquantized = replace(student, backend="full", load_in_4bit=False)
    return load_trained(folder, unquantized, inference=True).model.merge_and_unload()


def choose_backend(cuda_available: bool, unsloth_available: bool, load_in_4bit: bool) -> str:
    """Pick the loading path for ``backend="auto"``.

    >>> choose_backend(False, True, True), choose_backend(True, True, False)
    ('full', 'unsloth')
    >>> choose_backend(True, False, True), choose_backend(True, False, False)
    ('bnb-4bit', 'full')
    """
    if not cuda_available:
        return "full"  # float32 on CPU (ask for backend="bnb-4bit" to run NF4 there)
    if unsloth_available:
        return "unsloth"  # handles both 4-bit and 16-bit LoRA
    return "bnb-4bit" if load_in_4bit else "full"


def lora_target_regex(lora: LoraSettings) -> str:
    """A PEFT ``target_modules`` regex (matched with ``re.fullmatch`` on module names) for Qwen3-VL."""
    parts = []
    if lora.finetune_language_layers:
        parts.append(rf".*language_model\.layers\.\d+\..*\.(?:{'|'.join(lora.target_modules)})")
    if lora.finetune_vision_layers:
        parts.append(r".*visual\.blocks\.\d+\.(?:attn\.qkv|attn\.proj|mlp\.linear_fc1|mlp\.linear_fc2)")
    if not parts:
        raise ValueError("LoraSettings: set finetune_language_layers or finetune_vision_layers (or lora_r=None)")
    return "|".join(f"(?:{p})" for p in parts)


def resolve_model_path(model_id: str, local_files_only: bool | None = None) -> str:
    """A local folder for `model_id`: the tiny model (built on first use), a folder as given, or the hub cache."""
    from seekerlite.models.tiny import ensure_tiny_model

    if model_id == TINY_PRETRAINED:
        from seekerlite.models.pretrain_weights import ensure_pretrained_tiny_model

        return str(ensure_pretrained_tiny_model())  # the shipped perception-pretrained weights
    if model_id in TINY_IDS:
        return str(ensure_tiny_model())  # the random initialisation (the default; the base before pretraining)
    if Path(model_id).expanduser().is_dir():
        return str(Path(model_id).expanduser())
    from huggingface_hub import snapshot_download

    try:  # an id: only works from the hub cache here, or with network
        return snapshot_download(model_id, local_files_only=bool(local_files_only))
    except Exception as err:
        raise FileNotFoundError(
            f"Cannot load model {model_id!r}: it is not a local folder and could not be fetched from the Hugging "
            f"Face hub ({type(err).__name__}); on an offline machine weights cannot be downloaded. On a machine "
            f"with network run `hf download {model_id} --local-dir /some/dir`, copy the folder here and pass "
            f"--model /some/dir; or use --model {TINY} for the embedded tiny model.") from err


def add_response_schema(processor: Any) -> None:
    """Give the tokenizer TRL's response parser when the chat template is one TRL knows (else leave it)."""
    try:
        from trl.chat_template_utils import add_response_schema as add

        add(processor)
    except (ImportError, ValueError, AttributeError):
        pass


def load_student(student: StudentConfig | str = TINY, *, inference: bool = False,
                 gradient_checkpointing: bool = False, seed: int = 0,
                 local_files_only: bool | None = None) -> Student:
    """Load a Qwen3-VL student with LoRA adapters (``student.lora_r``) or every weight trainable.

    Args:
        student: the settings, or just a model id (then ``student_preset(model_id)``).
        inference: no adapter, every weight frozen, eval mode (policies, judges, scorers).
        gradient_checkpointing: recompute activations in the backward pass (non-reentrant, so LoRA on the vision
            tower gets gradients too).
        seed: seeds the LoRA initialisation.
        local_files_only: for hub ids: never touch the network (default: the hub's own setting).

    Returns:
        A ``Student``. Raises ``FileNotFoundError`` with a how-to when a hub id is unavailable offline.
    """
    cfg = student_preset(student) if isinstance(student, str) else student
    backend, device = resolve_backend(cfg)
    on_cuda = device.startswith("cuda")
    if backend == "unsloth" and not on_cuda:
        raise ValueError("backend 'unsloth' needs a CUDA GPU; use --backend bnb-4bit or full on a CPU")
    if backend == "unsloth":
        import_unsloth_first(cfg)
    import torch

    torch_dtype = getattr(torch, cfg.dtype or compute_dtype_name(device_capability(device)))
    lora = None if inference else cfg.lora
    # unsloth resolves hub ids itself (it may swap in a pre-quantized "unsloth/..." repo); others get a folder
    hub_id_for_unsloth = backend == "unsloth" and cfg.model_id not in TINY_IDS and not Path(cfg.model_id).is_dir()
    path = cfg.model_id if hub_id_for_unsloth else resolve_model_path(cfg.model_id, local_files_only)
    ckpt = gradient_checkpointing and not inference

    if backend == "unsloth":
        from unsloth import FastVisionModel  # lazy: importing unsloth needs a GPU

        model, processor = FastVisionModel.from_pretrained(
            path, load_in_4bit=cfg.load_in_4bit, dtype=torch_dtype,
            use_gradient_checkpointing="unsloth" if ckpt else False)
        if inference:
            FastVisionModel.for_inference(model)
        if lora is not None:
            model = FastVisionModel.get_peft_model(
                model, finetune_vision_layers=lora.finetune_vision_layers,
                finetune_language_layers=lora.finetune_language_layers, finetune_attention_modules=True,
                finetune_mlp_modules=True, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                bias="none", random_state=seed, use_gradient_checkpointing="unsloth" if ckpt else False)
    else:
        from transformers import (
            AutoModelForImageTextToText,
            AutoProcessor,
            BitsAndBytesConfig,
        )

        kwargs: dict[str, Any] = {"dtype": torch_dtype}
        if backend == "bnb-4bit":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch_dtype,
                bnb_4bit_use_double_quant=True)
            kwargs["device_map"] = {"": device}  # the requested device, a CPU included
        model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        if backend == "full":
            model = model.to(device)
        processor = AutoProcessor.from_pretrained(path)
        if lora is not None:
            model = _add_peft_lora(model, lora, quantized=backend == "bnb-4bit", gradient_checkpointing=ckpt, seed=seed)
        elif ckpt:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if inference:
        model.eval().requires_grad_(False)
    elif lora is None:
        model.train().requires_grad_(True)
        if not cfg.trains_vision:  # full fine-tuning of a pretrained tower: kept frozen (StudentConfig.trains_vision)
            model.model.visual.requires_grad_(False)
    add_response_schema(processor)
    return Student(model=model, processor=processor, backend=backend, device=device, model_path=str(path), config=cfg)


def _add_peft_lora(model: Any, lora: LoraSettings, *, quantized: bool, gradient_checkpointing: bool,
                   seed: int) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, bias="none",
                        target_modules=lora_target_regex(lora), task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(model, config)


# ---------------------------------------------------------------------------------------------- trained folders

def trained_weights(path: str | Path) -> tuple[str, Path, StudentConfig | None]:
    """What a trained folder holds: ("adapter" | "model" | "id", the folder to load, the student it was trained
    as, when a run.json says so). Run folders are looked into (``run.json``'s ``weights``)."""
    from seekerlite.runs import RUN_FILE, read_run

    p = Path(path).expanduser()
    if not p.exists():
        return "id", p, None
    info = read_run(p, levels=0) if (p / RUN_FILE).is_file() else None
    if info is not None and info.weights:
        p = p / info.weights
    elif (p / "adapter" / "adapter_config.json").is_file() and not (p / "config.json").is_file():
        p = p / "adapter"
    elif not (p / "config.json").is_file() and (p / "model" / "config.json").is_file():
        p = p / "model"
    student = info.student if info is not None else None
    if (p / "adapter_config.json").is_file():
        return "adapter", p, student
    if (p / "config.json").is_file():
        return "model", p, student
    raise FileNotFoundError(f"{path} holds no trained weights (no adapter_config.json or config.json there)")


def load_trained(path: str | Path, student: StudentConfig | None = None, *, inference: bool = True,
                 base_model: str | None = None, seed: int = 0, gradient_checkpointing: bool = False) -> Student:
    """Load a trained folder (see the module docstring) or a model id.

    Args:
        path: a run folder, an adapter folder, a model folder, or a model id ("tiny", a hub id).
        student: loading settings (backend, 4-bit, device); default: the run's student, else the preset.
        inference: frozen for evaluation; False keeps an adapter trainable (GRPO continuing SFT's LoRA).
        base_model: the base of an adapter, when not the one its adapter_config.json names.
    """
    kind, folder, trained_as = trained_weights(path)
    cfg = student or trained_as or student_preset(str(path) if kind == "id" else TINY)
    if kind == "id":
        return load_student(replace(cfg, model_id=str(path)), inference=inference, seed=seed,
                            gradient_checkpointing=gradient_checkpointing)
    if kind == "model":
        return load_student(replace(cfg, model_id=str(folder), lora_r=None if inference else cfg.lora_r),
                            inference=inference, seed=seed, gradient_checkpointing=gradient_checkpointing)
    from peft import PeftModel

    base = base_model or json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{folder}/adapter_config.json names no base model; pass --base-model")
    if base not in TINY_IDS and not Path(base).is_dir() and trained_as is not None:
        base = trained_as.model_id  # the base folder moved (a rebuilt cache): the run names the base by id
    st = load_student(replace(cfg, model_id=base), inference=True, seed=seed,
                      gradient_checkpointing=gradient_checkpointing)
    model = PeftModel.from_pretrained(st.model, str(folder), is_trainable=not inference)
    if inference:
        model.eval()
    processor = st.processor
    if (folder / "tokenizer_config.json").is_file() or (folder / "processor_config.json").is_file():
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(str(folder))  # the trainer may have saved its own
        add_response_schema(processor)
    return replace(st, model=model, processor=processor, config=cfg)
