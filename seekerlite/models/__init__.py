"""The student model: the embedded tiny Qwen3-VL (``tiny``) and loading any Qwen3-VL or trained folder (``loading``)."""

from seekerlite.config import TINY, TINY_MODEL_ID, TINY_RANDOM, LoraSettings, StudentConfig, student_preset
from seekerlite.models.loading import (
    Student,
    add_response_schema,
    choose_backend,
    load_student,
    load_trained,
    lora_target_regex,
    resolve_model_path,
    trained_weights,
)
from seekerlite.models.tiny import (
    build_tiny_model,
    build_tiny_processor,
    ensure_tiny_model,
    main_build_tiny,
    qwen3_vl_2b_config,
    tiny_config,
    tiny_model_dir,
)

__all__ = [
    "TINY", "TINY_MODEL_ID", "TINY_RANDOM", "LoraSettings", "Student", "StudentConfig", "add_response_schema",
    "build_tiny_model", "build_tiny_processor", "choose_backend", "ensure_tiny_model", "load_student", "load_trained",
    "lora_target_regex", "main_build_tiny", "qwen3_vl_2b_config", "resolve_model_path", "student_preset",
    "tiny_config", "tiny_model_dir", "trained_weights",
]
