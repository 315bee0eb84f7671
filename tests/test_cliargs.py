"""Command lines generated from the config dataclasses: every field is a flag whose --help is the field's comment,
one knob has one flag in every command (older spellings still accepted), and the parsed config says which
fields the user set."""

from __future__ import annotations

import argparse
import dataclasses
import typing

import pytest

from seekerlite.cliargs import add_config_arguments, config_from_args, field_comments
from seekerlite.config import EnvConfig, StudentConfig
from seekerlite.demo import DemoConfig
from seekerlite.evaluate import EvalConfig
from seekerlite.train.grpo import GRPORunConfig
from seekerlite.train.sft import SFTRunConfig

QWEN = "Qwen/Qwen3-VL-2B-Instruct"


def _demo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seekerlite demo")  # what main_demo builds (checked by test_demo_flags_run)
    add_config_arguments(p, DemoConfig)
    return p


def _parsers() -> dict[str, tuple[type, argparse.ArgumentParser]]:
    from seekerlite.evaluate.cli import build_parser as eval_parser
    from seekerlite.train.grpo import build_parser as grpo_parser
    from seekerlite.train.sft import build_parser as sft_parser

    return {"sft": (SFTRunConfig, sft_parser()), "grpo": (GRPORunConfig, grpo_parser()),
            "eval": (EvalConfig, eval_parser()), "demo": (DemoConfig, _demo_parser())}


PARSERS = _parsers()


def _leaves(cls: type, prefix: str = "") -> dict[str, tuple[type, dataclasses.Field]]:
    """{dotted path: (owning class, field)} of every non-config field, nested configs flattened."""
    out: dict[str, tuple[type, dataclasses.Field]] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            out |= _leaves(tp, f"{prefix}{f.name}.")
        else:
            out[prefix + f.name] = (cls, f)
    return out


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{option string: dest}."""
    return {o: a.dest for a in parser._actions for o in a.option_strings}


@pytest.mark.parametrize("name", list(PARSERS))
def test_every_field_has_a_flag_with_its_comment_as_help(name, capsys):
    from seekerlite.cli import main

    cls, parser = PARSERS[name]
    actions = _actions(parser)
    leaves = _leaves(cls)
    assert set(leaves) <= set(actions), set(leaves) - set(actions)
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])  # the real command's --help
    assert info.value.code == 0
    shown = capsys.readouterr().out
    for path, (owner, f) in leaves.items():
        comment = field_comments(owner)[f.name]
        assert comment and comment.replace("%", "%%") in actions[path].help, path
        assert actions[path].option_strings[0] in shown, path


def test_env_config_alone_gets_every_field():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, EnvConfig)
    comments = field_comments(EnvConfig)
    actions = _actions(parser)
    assert set(actions) == {f.name for f in dataclasses.fields(EnvConfig)}
    assert all(comments[d] in a.help for d, a in actions.items())
    cfg, explicit = config_from_args(EnvConfig, parser.parse_args(["--frames-per-call", "8", "--no-system-prompt"]))
    assert cfg == EnvConfig(frames_per_call=8, system_prompt=False) and explicit == {"frames_per_call", "system_prompt"}


SAME_FLAG = {  # flag -> {command: the field it sets}; a knob a command lacks has no flag there
    "--model": {"sft": "student.model_id", "grpo": "student.model_id", "demo": "student.model_id", "eval": "policy"},
    "--lr": {"sft": "learning_rate", "grpo": "learning_rate"},
    "--batch-size": {"sft": "per_device_train_batch_size", "grpo": "per_device_train_batch_size", "eval": "batch_size"},
    "--frames-per-call": dict.fromkeys(PARSERS, "env.frames_per_call"),
    "--overview-frames": dict.fromkeys(PARSERS, "env.overview_frames"),
    "--tool-rounds": dict.fromkeys(PARSERS, "env.max_tool_rounds"),
    "--out": dict.fromkeys(PARSERS, "output_dir"),
    "--seed": dict.fromkeys(PARSERS, "seed"),
}


@pytest.mark.parametrize("flag", list(SAME_FLAG))
def test_one_knob_one_flag_in_every_command(flag):
    for name, (cls, parser) in PARSERS.items():
        flags = _flags(parser)
        want = SAME_FLAG[flag].get(name)
        if want is None:
            assert flag not in flags, (name, flag)
            continue
        assert flags.get(flag) == want, (name, flag)
        assert _actions(parser)[want].option_strings[0] == flag  # the name --help shows first


ALIASES = [  # (commands, old flag, value, new flag)
    (("sft", "grpo"), "--learning-rate", "0.01", "--lr"),
    (("sft", "grpo"), "--per-device-train-batch-size", "4", "--batch-size"),  # GRPO: whole groups (G = 4)
    (("sft", "grpo", "demo"), "--model-id", "some/model", "--model"),
    (("grpo",), "--init-from", "runs/sft", "--model"),
    (("eval",), "--policy", "oracle", "--model"),
    (tuple(PARSERS), "--max-frames-per-call", "3", "--frames-per-call"),
    (tuple(PARSERS), "--max-turns", "2", "--tool-rounds"),
    (tuple(PARSERS), "--max-tool-rounds", "2", "--tool-rounds"),
    (tuple(PARSERS), "--output-dir", "elsewhere", "--out"),
]


@pytest.mark.parametrize("commands,old,value,new", ALIASES)
def test_old_flags_still_work(commands, old, value, new):
    for name in commands:
        cls, parser = PARSERS[name]
        assert config_from_args(cls, parser.parse_args([old, value])) == \
            config_from_args(cls, parser.parse_args([new, value])), (name, old)


def test_explicit_is_the_set_of_dotted_paths_given():
    cls, parser = PARSERS["sft"]
    cfg, explicit = config_from_args(cls, parser.parse_args(["--lr", "0.01", "--frames-per-call", "8"]))
    assert explicit == {"learning_rate", "env.frames_per_call"}
    assert (cfg.learning_rate, cfg.env.frames_per_call) == (0.01, 8)
    assert cfg.env.overview_frames == EnvConfig().overview_frames and cfg.student == StudentConfig()
    assert config_from_args(cls, parser.parse_args([]))[1] == set()  # nothing given, nothing explicit
    cfg, explicit = config_from_args(cls, parser.parse_args(["--lr", "5e-3"]))
    assert explicit == {"learning_rate"}  # given at its default value still counts as set


@pytest.mark.parametrize("name,field,flag", [
    ("sft", "student.load_in_4bit", "4bit"), ("sft", "gradient_checkpointing", "grad-ckpt"),
    ("sft", "save_merged", "save-merged"), ("grpo", "rewards.parsimony_needs_correct", "parsimony-needs-correct"),
    ("eval", "env.system_prompt", "system-prompt"), ("demo", "quick", "quick"),
])
def test_bool_fields_get_yes_and_no_flags(name, field, flag):
    cls, parser = PARSERS[name]
    leaves = _leaves(cls)
    bools = {p for p, (owner, f) in leaves.items() if typing.get_type_hints(owner)[f.name] is bool}
    assert field in bools
    for path in bools:  # every bool field: --x and --no-x
        first = _actions(parser)[path].option_strings[0]
        assert f"--no-{first[2:]}" in _flags(parser), path

    def value(argv):
        cfg, explicit = config_from_args(cls, parser.parse_args(argv))
        obj = cfg
        for part in field.split("."):
            obj = getattr(obj, part)
        return obj, field in explicit

    assert value([f"--{flag}"]) == (True, True) and value([f"--no-{flag}"]) == (False, True)


@pytest.mark.parametrize("name,argv,field", [
    ("sft", ["--lora-r", "none"], "lora_r"), ("grpo", ["--lora-r", "None"], "lora_r"),
    ("sft", ["--max-length", "none"], "max_length"), ("eval", ["--max-samples", "none"], "max_samples"),
    ("sft", ["--lora-alpha", "none"], "lora_alpha"), ("eval", ["--responses", "none"], "responses"),
])
def test_none_gives_none_for_optional_fields(name, argv, field):
    cls, parser = PARSERS[name]
    cfg, explicit = config_from_args(cls, parser.parse_args(argv))
    assert explicit == {("student." if field.startswith("lora") else "") + field}
    owner = cfg.student if field.startswith("lora") else cfg
    assert getattr(owner, field) is None
    assert config_from_args(cls, parser.parse_args([argv[0], "8"]))[0] != cfg  # a number is a number


def test_resume_alone_means_the_latest_checkpoint():
    for name in ("sft", "grpo"):
        cls, parser = PARSERS[name]
        assert config_from_args(cls, parser.parse_args(["--resume"]))[0].resume_from_checkpoint == "latest"
        assert config_from_args(cls, parser.parse_args(["--resume", "r/checkpoint-2"]))[0].resume_from_checkpoint \
            == "r/checkpoint-2"


def test_bad_values_are_refused_by_argparse(capsys):
    with pytest.raises(SystemExit):
        PARSERS["sft"][1].parse_args(["--lr", "fast"])
    assert "--lr" in capsys.readouterr().err


def test_per_model_defaults():
    real = SFTRunConfig.for_model(QWEN)
    assert (real.student.model_id, real.student.lora_r, real.student.load_in_4bit) == (QWEN, 16, True)
    assert real.learning_rate <= 1e-4 and real.gradient_checkpointing
    tiny = SFTRunConfig.for_model("tiny")
    assert tiny.student.lora_r is None and not tiny.student.load_in_4bit and tiny.learning_rate == SFTRunConfig().learning_rate
    assert SFTRunConfig.for_model(QWEN, learning_rate=3e-4).learning_rate == 3e-4  # keywords win


@pytest.mark.parametrize("module", ["seekerlite.train.sft", "seekerlite.train.grpo"])
def test_config_from_argv_picks_per_model_defaults_and_explicit_flags_win(module):
    import importlib

    config_from_argv = importlib.import_module(module).config_from_argv
    cfg, explicit, _ = config_from_argv(["--model", QWEN])
    assert (cfg.student.model_id, cfg.student.lora_r, cfg.student.load_in_4bit) == (QWEN, 16, True)
    assert cfg.learning_rate <= 1e-4 and cfg.gradient_checkpointing and explicit == {"student.model_id"}
    cfg, explicit, _ = config_from_argv(["--model", QWEN, "--lr", "3e-4", "--lora-r", "8"])
    assert (cfg.learning_rate, cfg.student.lora_r, cfg.student.load_in_4bit) == (3e-4, 8, True)
    assert explicit == {"student.model_id", "learning_rate", "student.lora_r"}
    tiny, _, _ = config_from_argv([])
    assert tiny.student.lora_r is None and tiny.learning_rate > 1e-4


def test_demo_flags_run(monkeypatch):
    """main_demo's own parser: the shared flags land in DemoConfig, and --model picks per-model defaults."""
    from seekerlite import demo

    seen = []
    monkeypatch.setattr(demo, "run_demo", lambda config: seen.append(config) or "report.html")
    assert demo.main_demo(["--frames-per-call", "2", "--tool-rounds", "1", "--out", "d", "--seed", "3"]) == 0
    cfg = seen[-1]
    assert (cfg.env.frames_per_call, cfg.env.max_tool_rounds, cfg.output_dir, cfg.seed) == (2, 1, "d", 3)
    assert demo.main_demo(["--model", QWEN, "--sft-lr", "2e-4"]) == 0
    cfg = seen[-1]
    assert (cfg.student.lora_r, cfg.student.load_in_4bit, cfg.sft_lr, cfg.grpo_lr) == (16, True, 2e-4, 1e-5)
