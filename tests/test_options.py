"""Options declared once: flags, validation, the docs reference and configs/default.yaml follow the declarations."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from tfseg.cli import train_parser
from tfseg.config import _SECTIONS, MODEL_OPTION_FLAGS, OPTIONS, RESUMABLE_KEYS, load_config, options_reference
from tfseg.errors import TfsegError
from tfseg.options import overrides_from_flags

ROOT = Path(__file__).resolve().parents[1]


def test_every_config_field_is_declared_with_help():
    for name, cls in _SECTIONS.items():
        for field in dataclasses.fields(cls):
            assert field.metadata.get("help"), f"{name}.{field.name} has no declaration (tfseg.options.option)"
    assert len({spec.flag for spec in OPTIONS if spec.flag}) == len([spec for spec in OPTIONS if spec.flag])


def test_flags_are_generated_from_the_declarations():
    args = train_parser().parse_args(
        ["--early-stopping", "3", "--image-size", "32", "48", "--no-pad-crops", "--export", "tflite", "--lr", "0.01",
         "--encoder-weights", "none", "--deterministic-pipeline", "--model", "unetpp"]
    )
    overrides = overrides_from_flags(args, OPTIONS)
    assert set(overrides) == {"train.early_stopping_patience", "data.image_size", "data.pad_crops", "train.export",
                              "train.lr", "model.options.encoder_weights", "data.deterministic", "model.name"}
    config = load_config(None, overrides)
    assert config.train.early_stopping_patience == 3 and config.data.image_size == [32, 48]
    assert config.data.pad_crops is False and config.train.export == ["tflite"] and config.train.lr == 0.01
    assert config.model.options == {"encoder_weights": "none"} and config.model.name == "unetpp"
    assert "train.epochs" not in overrides  # unset flags leave the config file's value alone


def _help_entries(help_text):
    """{group heading: {flag: its help, in one line}} of an argparse --help text."""
    groups, group, flag = {}, None, None
    for line in help_text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            group = groups.setdefault(line[:-1], {})
        elif group is not None and line.startswith("  -"):
            flag, _, text = line.strip().partition("  ")
            flag = flag.split()[0].rstrip(",")
            group[flag] = text.strip()
        elif group is not None and line.startswith("    ") and flag:
            group[flag] = (group[flag] + " " + line.strip()).strip()
    return groups


def test_help_groups_the_flags_by_section_and_says_what_each_default_means(monkeypatch):
    """train --help: the command's own flags, then data, model, training, export and output
    (train.export*, train.run_dir ...), each flag with what its default means and the key
    when the flag does not spell it."""
    monkeypatch.setenv("COLUMNS", "100")
    text = train_parser("tfseg train").format_help()
    groups = _help_entries(text)
    assert list(groups)[:7] == ["options", "data", "model", "training", "export", "output", "examples"]
    assert {"--config", "--set", "--resume", "--inspect", "--preview", "--list-models"} <= set(groups["options"])
    assert set(groups["export"]) == {"--export", "--export-batch"}
    assert set(groups["output"]) == {"--run-dir", "--tensorboard-images"}
    assert {"--model", "--encoder-weights", "--deep-supervision"} <= set(groups["model"])
    assert {"--epochs", "--lr", "--seed", "--precision"} <= set(groups["training"])
    flags = {flag: help_ for members in groups.values() for flag, help_ in members.items()}
    assert flags["--data"].endswith("(data.dir; default: the built-in demo data)")
    assert flags["--run-dir"].endswith("(default: runs/<model>-<timestamp>)")
    assert flags["--encoder-weights"].endswith("(model.options.encoder_weights; default: random init)")
    assert flags["--image-size"].endswith("(default: 128 128)") and flags["--cache"].endswith("(default: off)")
    assert "FORMAT: tflite, tflite-float16, tflite-int8, onnx, bioimageio" in flags["--export"]
    assert "default: None" not in text and "default: '')" not in text and "default: [])" not in text
    assert "--optimizer {adam,adamw,sgd,rmsprop}" in text and "--jit-compile true|false|auto" in text
    for spec in OPTIONS:
        if spec.flag:
            spelt = spec.flag == "--" + spec.key.split(".", 1)[1].replace("_", "-")
            assert spelt or f"({spec.key}; default: " in flags[spec.flag], spec.key
    assert max(map(len, text.splitlines())) <= 100 and len(text.splitlines()) < 160


def test_every_default_that_says_little_says_what_it_means():
    for spec in OPTIONS:
        if spec.default in (None, "", [], {}):
            assert spec.default_text, f"{spec.key}: default {spec.default!r} needs a default_text"
    page = (ROOT / "docs" / "options.md").read_text()
    assert "| `None`: the built-in demo data |" in page


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"train.optimizer": "lamb"}, r"train.optimizer: expected one of \['adam', 'adamw', 'sgd', 'rmsprop'\], got 'lamb'"),
        ({"train.export": ["coreml"]}, "train.export: expected one of"),
        ({"data.channels": 2}, r"data.channels: expected one of \[1, 3\], got 2"),
        ({"train.lr": 0}, "train.lr: expected a value > 0, got 0"),
        ({"train.momentum": 1.0}, "train.momentum: expected a value >= 0 and < 1, got 1.0"),
        ({"data.image_size": [0, 32]}, "data.image_size: expected a value >= 1, got 0"),
        ({"train.epochs": "ten"}, "config key train.epochs: expected int, got 'ten'"),
        ({"data.cache": 1}, "config key data.cache: expected bool, got 1"),
        ({"data.image_size": ["a", 3]}, "config key data.image_size: expected list of int"),
    ],
)
def test_values_outside_the_declaration_name_the_key(overrides, message):
    with pytest.raises(TfsegError, match=message):
        load_config(None, overrides)


def test_default_yaml_writes_out_every_declared_option():
    raw = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    written = {f"{section}.{key}" for section, values in raw.items() for key in values}
    declared = {spec.key for spec in OPTIONS} - {spec.key for spec in MODEL_OPTION_FLAGS}
    assert written == declared


def test_options_reference_in_the_docs_is_current():
    page = (ROOT / "docs" / "options.md").read_text()
    assert page.strip() == options_reference().strip(), "docs/options.md is stale: python -m tfseg.config > docs/options.md"
    assert all(f"`{spec.key}`" in page for spec in OPTIONS)


def test_resumable_keys_are_declared():
    assert set(RESUMABLE_KEYS) == {"train.epochs", "train.export", "train.export_batch", "train.strategy", "train.jit_compile", "train.deterministic"}


def test_a_new_option_is_one_declaration_plus_its_use(tmp_path):
    """--early-stopping-min-delta was added as one `option(...)` line and its use in make_callbacks."""
    import keras

    from tfseg.callbacks import GracefulStop, make_callbacks
    from tfseg.run import RunDir

    args = train_parser().parse_args(["--early-stopping", "2", "--early-stopping-min-delta", "0.01"])
    config = load_config(None, overrides_from_flags(args, OPTIONS))
    (stopper,) = [c for c in make_callbacks(config.train, RunDir(tmp_path), None, None, None, GracefulStop()) if isinstance(c, keras.callbacks.EarlyStopping)]
    assert stopper.min_delta == 0.01 and stopper.patience == 2
    with pytest.raises(TfsegError, match="train.early_stopping_min_delta: expected a value >= 0, got -1"):
        load_config(None, {"train.early_stopping_min_delta": -1})


@pytest.mark.parametrize("flag, expected", [("auto", "auto"), ("true", True), ("False", False)])
def test_jit_compile_takes_auto_true_or_false_from_the_command_line(flag, expected):
    args = train_parser().parse_args(["--jit-compile", flag])
    assert load_config(None, overrides_from_flags(args, OPTIONS)).train.jit_compile == expected


def test_jit_compile_keeps_yaml_booleans_and_names_a_bad_value(tmp_path, capsys):
    (tmp_path / "old.yaml").write_text("train: {jit_compile: false}\n")  # a run's config.yaml before "auto"
    assert load_config(tmp_path / "old.yaml").train.jit_compile is False
    with pytest.raises(TfsegError, match=r"train.jit_compile: expected one of \[True, False, 'auto'\], got 'sometimes'"):
        load_config(None, {"train.jit_compile": "sometimes"})
    with pytest.raises(SystemExit):  # the flag's choices are checked as it is parsed
        train_parser().parse_args(["--jit-compile", "sometimes"])
    assert "argument --jit-compile: invalid choice: 'sometimes'" in capsys.readouterr().err
