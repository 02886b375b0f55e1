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
    assert set(overrides) == {spec.key for spec in OPTIONS if spec.flag}
    config = load_config(None, overrides)
    assert config.train.early_stopping_patience == 3 and config.data.image_size == [32, 48]
    assert config.data.pad_crops is False and config.train.export == ["tflite"] and config.train.lr == 0.01
    assert config.model.options == {"encoder_weights": "none"} and config.model.name == "unetpp"
    assert overrides["train.epochs"] is None  # unset flags leave the config file's value alone


def test_help_lists_every_flag_with_its_key():
    text = " ".join(train_parser().format_help().split())
    for spec in OPTIONS:
        if spec.flag:
            assert spec.flag in text and spec.key in text, spec.key


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


def test_jit_compile_keeps_yaml_booleans_and_names_a_bad_value(tmp_path):
    (tmp_path / "old.yaml").write_text("train: {jit_compile: false}\n")  # a run's config.yaml before "auto"
    assert load_config(tmp_path / "old.yaml").train.jit_compile is False
    args = train_parser().parse_args(["--jit-compile", "sometimes"])
    with pytest.raises(TfsegError, match=r"train.jit_compile: expected one of \[True, False, 'auto'\], got 'sometimes'"):
        load_config(None, overrides_from_flags(args, OPTIONS))
