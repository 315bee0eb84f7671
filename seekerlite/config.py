"""What the student sees and what the student is: the two settings every step shares, defined once.

    env = EnvConfig()                                   # tool budgets and frame sizes of every episode
    student = student_preset("Qwen/Qwen3-VL-2B-Instruct")   # LoRA r=16 on a 4-bit base; "tiny" runs on a CPU

The pipeline (SFT trajectories, RL curation), SFT, GRPO and evaluation each nest an ``env: EnvConfig`` (and the
trainers and evaluation a ``student: StudentConfig``), and every run folder records both in ``run.json``
(``seekerlite.runs``): a later step that reads the run starts from the same settings, and refuses different
ones unless told to override them. The defaults run the embedded tiny student on a CPU; the same fields scale
up (the paper: 5 tool rounds, up to 64 frames per call at 336x336 pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

TINY = "tiny"  # the embedded tiny Qwen3-VL, random-init (built locally, no hub): the default student
TINY_RANDOM = "tiny-random"  # the same as TINY, named for comparisons with the pretrained base
# The perception-pretrained base (seekerlite/models/weights/, `build-tiny-model --pretrain`): the demo's and the
# learning-signal benchmark's student (`demo.DemoConfig.student`); StudentConfig's bare default stays the random one.
TINY_PRETRAINED = "tiny-pretrained"
TINY_MODEL_ID = "seekerlite/tiny-qwen3-vl"  # older name of TINY, still accepted
TINY_IDS = (TINY, TINY_RANDOM, TINY_PRETRAINED, TINY_MODEL_ID)


@dataclass
class EnvConfig:
    """Budgets and sizes of the tool environment: what the student sees in every episode."""

    overview_frames: int = 4  # uniformly sampled frames in the first user turn (fewer = shorter prompts)
    overview_max_pixels: int = 224 * 224  # pixel budget of each overview frame
    frames_per_call: int = 4  # most frames one crop_video returns (paper: up to 64 on real GPUs)
    min_frames_per_call: int = 4  # fewest frames a crop_video returns (capped at frames_per_call; fewer only if the window holds fewer)
    sample_fps: float = 1.0  # crop_video samples its window at this rate (frames per second of video), within the two bounds above
    max_total_frames: int = 32  # frames returned across all tool calls of one episode
    max_pixels: int = 336 * 336  # pixel budget of the marked frame and of each returned frame (paper: 336^2)
    max_tool_rounds: int = 3  # tool calls per episode (one per assistant turn); the episode has max_tool_rounds + 1 turns (paper: 5)
    min_region_size: int = 20  # smallest region side a crop may ask for, in 0-1000 units
    time_tolerance: float = 0.05  # seconds an end_time may pass the video's end before it is an error
    system_prompt: bool = True  # open every episode with seekerlite's system prompt
    frames_as: str = "list"  # a crop's frames as "list" (N images) or "grid" (one labelled grid image, the paper's choice; verl tool responses)

    def __post_init__(self) -> None:
        for name in ("overview_frames", "max_tool_rounds", "min_region_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"EnvConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("frames_per_call", "min_frames_per_call", "max_total_frames", "max_pixels", "overview_max_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"EnvConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.frames_as not in ("list", "grid"):
            raise ValueError(f"EnvConfig.frames_as must be 'list' or 'grid', got {self.frames_as!r}")
        if not self.sample_fps > 0 or not self.time_tolerance >= 0:
            raise ValueError(f"EnvConfig: need sample_fps > 0 and time_tolerance >= 0, got {self.sample_fps}, "
                             f"{self.time_tolerance}")


def assistant_turns(env: EnvConfig) -> int:
    """Assistant turns an episode may take: one per tool round, plus the final answer (TRL's tool loop: after
    ``max_tool_calling_iterations`` rounds the model answers once more, and a tool call there is not run).

    >>> assistant_turns(EnvConfig(max_tool_rounds=3)), assistant_turns(EnvConfig(max_tool_rounds=0))
    (4, 1)
    """
    return env.max_tool_rounds + 1


def no_tool_env(env: EnvConfig) -> EnvConfig:
    """The same environment with no tools: the student answers from the first turn alone (a baseline)."""
    return replace(env, max_tool_rounds=0)


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings (same names as unsloth's ``FastVisionModel.get_peft_model``)."""

    r: int = 16  # adapter rank; higher = more capacity and memory
    alpha: int = 32  # scale = alpha / r
    dropout: float = 0.0  # 0 lets unsloth use its fast path
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    finetune_vision_layers: bool = False  # also adapt the ViT blocks (attn.qkv, attn.proj, mlp.linear_fc1/2)
    finetune_language_layers: bool = True  # adapt the language model's target_modules


@dataclass
class StudentConfig:
    """Which student model, and how it is loaded and adapted. Defaults: the tiny student, every weight trained."""

    model_id: str = TINY  # "tiny" (= "tiny-random"), "tiny-pretrained", a model folder, a run folder (run.json), or a hub id
    backend: str = "auto"  # "auto" | "unsloth" | "bnb-4bit" | "full": auto = unsloth on CUDA if installed, else bnb-4bit on CUDA when load_in_4bit, else full
    load_in_4bit: bool = False  # NF4 base weights (QLoRA); on by preset for real checkpoints
    lora_r: int | None = None  # LoRA rank (16 for real checkpoints); None = train every weight (the tiny model)
    lora_alpha: int | None = None  # LoRA scale numerator; None = 2 * lora_r
    lora_dropout: float = 0.0  # LoRA dropout (0 keeps unsloth's fast path)
    finetune_vision_layers: bool | None = None  # train (LoRA: adapt) the vision tower too; None = only where it starts random (the random tiny student, fully trained); a pretrained tower is kept as it is, as unsloth's default does; for a run folder, what its run.json says
    dtype: str | None = None  # compute dtype: None = float32 on CPU, bfloat16 on GPUs that have it, else float16
    device: str | None = None  # "cuda" | "cpu" | "cuda:1"; None = CUDA when available

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "unsloth", "bnb-4bit", "full"):
            raise ValueError(f"StudentConfig.backend must be auto, unsloth, bnb-4bit or full, got {self.backend!r}")
        if self.lora_r is not None and self.lora_r < 1:
            raise ValueError(f"StudentConfig.lora_r must be >= 1 or None, got {self.lora_r}")
        if self.finetune_vision_layers is None and self.model_id in TINY_IDS:  # resolved, so run.json records it
            self.finetune_vision_layers = self.lora_r is None and self.model_id != TINY_PRETRAINED

    @property
    def is_tiny(self) -> bool:
        return self.model_id in TINY_IDS

    @property
    def trains_vision(self) -> bool:
        """Whether the vision tower is trained: ``finetune_vision_layers``. Left unset, a tiny id resolves it at
        construction - True only when every weight of the random-init tiny student trains (a tower that has never
        seen must learn to) - and anything else keeps its tower, as LoRA (and unsloth) do by default; a run folder
        given as the model takes its run.json's value (``train.grpo.settle_with_runs``).

        >>> StudentConfig("tiny").trains_vision, StudentConfig("tiny-pretrained").trains_vision
        (True, False)
        >>> StudentConfig("tiny", lora_r=4).trains_vision
        False
        """
        return bool(self.finetune_vision_layers)

    @property
    def lora(self) -> LoraSettings | None:
        """The adapter settings, or None when every weight is trained."""
        if self.lora_r is None:
            return None
        return LoraSettings(r=self.lora_r, alpha=self.lora_alpha or 2 * self.lora_r, dropout=self.lora_dropout,
                            finetune_vision_layers=self.trains_vision)


def is_tiny(model_id: str) -> bool:
    """Whether `model_id` names the embedded tiny student."""
    return model_id in TINY_IDS


def student_preset(model_id: str = TINY, **overrides: object) -> StudentConfig:
    """The student settings that suit `model_id`: the tiny model trains every weight in float32; any real
    checkpoint gets QLoRA (r=16 on a 4-bit base). Keyword overrides win.

    >>> student_preset("tiny").lora_r, student_preset("Qwen/Qwen3-VL-2B-Instruct").lora_r
    (None, 16)
    """
    base: dict[str, object] = {"model_id": model_id} if is_tiny(model_id) else \
        {"model_id": model_id, "load_in_4bit": True, "lora_r": 16, "lora_alpha": 32}
    return StudentConfig(**(base | overrides))  # type: ignore[arg-type]  # built once: unset fields resolve for the final settings
