import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from tfseg.cli import COMMANDS, evaluate_main, train_main
from tfseg.data import read_image
from tfseg.distribution import float32_layers
from tfseg.inference import predict

from tests.conftest import cli_in_fresh_python

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = "model:\n  options: {depth: 2, base_filters: 4}\ntrain:\n  batch_size: 4\n"


@pytest.fixture(scope="module")
def trained_run(tiny_dataset, tmp_path_factory):
    """train.py then evaluate.py, each as a real subprocess, on the tiny dataset."""
    work = tmp_path_factory.mktemp("cli")
    config = work / "tiny.yaml"
    config.write_text(TINY_MODEL)
    run_dir = work / "run"
    train = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--model", "unet", "--config", str(config), "--data", str(tiny_dataset),
         "--epochs", "2", "--image-size", "32", "32", "--loss", "bce+jaccard", "--run-dir", str(run_dir), "--seed", "1"],
        capture_output=True, text=True,
    )
    assert train.returncode == 0, train.stderr[-2000:]
    (work / "train_stdout.txt").write_text(train.stdout)
    evaluate = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), str(run_dir), "--split", "test"], capture_output=True, text=True
    )
    assert evaluate.returncode == 0, evaluate.stderr[-2000:]
    return run_dir, evaluate.stdout


@pytest.mark.slow
def test_run_directory_contents(trained_run):
    run_dir, _ = trained_run
    for name in ("config.yaml", "history.csv", "best.keras", "curves.png", "export/saved_model.pb"):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2]  # numbered from 1
    assert {"loss", "iou", "dice", "val_loss", "val_iou", "val_dice"} <= set(history.columns)
    saved = (run_dir / "config.yaml").read_text()
    assert "loss: bce+jaccard" in saved and "base_filters: 4" in saved and f"run_dir: {run_dir}" in saved


@pytest.mark.slow
def test_training_ends_with_the_best_epoch_the_files_and_the_next_commands(trained_run):
    from tfseg.training import training_summary

    run_dir, _ = trained_run
    history = pd.read_csv(run_dir / "history.csv")
    best = int(history["val_iou"].idxmax())
    text = training_summary(run_dir, seconds=263)
    lines = text.splitlines()
    assert lines[0] == f"tfseg: run written to {run_dir}"
    assert lines[1] == (f"  best epoch {best + 1} of 2 (by val_iou): val_iou {history['val_iou'][best]:.4f}, "
                        f"val_dice {history['val_dice'][best]:.4f}")
    assert lines[2] == "  time: 4 min 23 s"
    assert lines[3] == ("  written: best.keras (the best epoch), export/ (SavedModel, model card), curves.png, "
                        "history.csv, tensorboard/")
    assert lines[4:] == ["  next:", f"    tfseg evaluate {run_dir}", f"    tfseg predict {run_dir} IMAGES  # masks into {run_dir / 'predictions'}",
                         f"    tensorboard --logdir {run_dir / 'tensorboard'}"]
    printed = (run_dir.parent / "train_stdout.txt").read_text()
    assert "\n".join(lines[:2]) in printed and "\n".join(lines[3:]) in printed and "  time: " in printed


def test_durations_read_as_a_person_says_them():
    from tfseg.text import format_duration

    assert [format_duration(seconds) for seconds in (41.4, 252, 1800, 3780, 7200)] == [
        "41 s", "4 min 12 s", "30 min", "1 h 03 min", "2 h"]


def test_training_summary_of_a_run_without_the_monitored_column(binary_run):
    from tfseg.training import training_summary

    text = training_summary(binary_run)
    assert text.splitlines()[:2] == [f"tfseg: run written to {binary_run}", "  written: best.keras (the best epoch), history.csv"]
    assert "tensorboard --logdir" not in text


@pytest.mark.slow
def test_evaluation_outputs(trained_run, tiny_dataset):
    run_dir, stdout = trained_run
    per_image = pd.read_csv(run_dir / "eval" / "test" / "per_image.csv", dtype={"id": str})
    test_ids = pd.read_csv(tiny_dataset / "splits.csv").query("split == 'test'")["id"]
    assert sorted(per_image["id"]) == sorted(test_ids)
    assert list(per_image.columns[:5]) == ["id", "dice", "iou", "precision", "recall"]
    assert {"specificity", "accuracy", "assd", "hd95"} <= set(per_image.columns)
    summary = json.loads((run_dir / "eval" / "test" / "summary.json").read_text())
    assert summary["images"] == len(test_ids)
    assert summary["scores"]["dice"]["mean"] == pytest.approx(per_image["dice"].mean(), abs=1e-6)
    assert summary["scores"]["iou"]["min"] == pytest.approx(per_image["iou"].min(), abs=1e-6)
    assert "dice" in stdout and "median" in stdout


@pytest.mark.slow
def test_evaluation_matches_a_hand_computed_dice(trained_run, tiny_dataset):
    run_dir, _ = trained_run
    model = float32_layers(keras.saving.load_model(run_dir / "best.keras"))  # exports are float32
    per_image = pd.read_csv(run_dir / "eval" / "test" / "per_image.csv", dtype={"id": str})
    sample = per_image.iloc[0]
    image = read_image(tiny_dataset / "images" / f"{sample['id']}.png", 1)
    truth = read_image(tiny_dataset / "masks" / f"{sample['id']}.png", 1)[..., 0] > 127
    pred = predict(model, [image])[0][..., 0] > 0.5
    dice = 2 * (pred & truth).sum() / max(pred.sum() + truth.sum(), 1) if (pred.any() or truth.any()) else 1.0
    assert sample["dice"] == pytest.approx(dice, abs=1e-6)


@pytest.mark.slow
def test_saved_model_export_matches_keras(trained_run):
    import tensorflow as tf

    run_dir, _ = trained_run
    model = float32_layers(keras.saving.load_model(run_dir / "best.keras"))  # exports are float32
    exported = tf.saved_model.load(str(run_dir / "export"))
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(exported.serve(x).numpy(), model.predict_on_batch(x), atol=1e-5)


def _one_line_error(capsys, argv, main=train_main):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_inputs_give_one_line_errors(capsys, tmp_path, tiny_dataset):
    assert "expected a dataset folder" in _one_line_error(capsys, ["--data", str(tmp_path / "none")])
    (tmp_path / "masks").mkdir()
    assert "no images/ folder" in _one_line_error(capsys, ["--data", str(tmp_path)])
    err = _one_line_error(capsys, ["--model", "unett", "--data", str(tiny_dataset)])
    assert "unknown model 'unett'; did you mean unet" in err and "tfseg models" in err
    err = _one_line_error(capsys, ["--loss", "bce+focall", "--data", str(tiny_dataset)])
    assert "unknown loss 'focall'" in err and "valid: bce, ce, dice, focal," in err
    assert "no config.yaml" in _one_line_error(capsys, [str(tmp_path)], main=evaluate_main)
    assert not list(Path("runs").glob("unett-*")) if Path("runs").exists() else True


@pytest.mark.parametrize(
    "given, suggested",
    [("Unet", "did you mean unet?"), ("unet_efficientnet-b3", "did you mean unet_effb3?"),
     ("unet_resnet43", "did you mean unet_resnet34,")],
)
def test_unknown_model_suggests_the_closest_names(capsys, tiny_dataset, given, suggested):
    err = _one_line_error(capsys, ["--model", given, "--data", str(tiny_dataset)])
    assert f"unknown model {given!r}; {suggested}" in err and "--list-models" in err and len(err) < 300


def test_failed_run_leaves_nothing_behind(capsys, tmp_path, tiny_dataset):
    run_dir = tmp_path / "run"
    _one_line_error(capsys, ["--data", str(tiny_dataset), "--image-size", "30", "30", "--run-dir", str(run_dir)])
    assert not run_dir.exists()


def test_cli_process_exit_code_and_message(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--data", str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --data")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_five_minute_tour_on_the_demo_data(tmp_path):
    """README's tour, train → evaluate → predict on the demo data, with tiny sizes; the pictures it promises exist."""
    env = {**os.environ, "TFSEG_CACHE": str(tmp_path / "cache")}
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_MODEL)
    run_dir, pred = tmp_path / "runs" / "demo", tmp_path / "pred"
    commands = [
        ["train.py", "--model", "unet", "--run-dir", str(run_dir), "--config", str(config), "--demo-samples", "24",
         "--image-size", "32", "32", "--epochs", "1"],
        ["evaluate.py", str(run_dir)],
        ["predict.py", str(run_dir), str(tmp_path / "cache" / "demo-n24-s32-seed0" / "images"), "--out", str(pred), "--overlays"],
    ]
    for command in commands:
        result = subprocess.run([sys.executable, str(ROOT / command[0]), *command[1:]], capture_output=True, text=True, env=env)
        assert result.returncode == 0, f"{command[0]}: {result.stderr[-2000:]}"
    for picture in ("curves.png", "eval/test/best_median_worst.png", "eval/test/boxplots.png", "eval/test/report.md"):
        assert (run_dir / picture).is_file(), picture
    assert len(list((pred / "overlays").glob("*.png"))) == 24 and (pred / "areas.csv").is_file()


def test_list_models_is_one_row_per_architecture_then_the_encoders_once(capsys):
    """`tfseg models` and `train.py --list-models`: each architecture once, by family, a
    decoder as <decoder>_<encoder>, then each encoder once, by family."""
    from tfseg import models
    from tfseg.cli import main
    from tfseg.models.encoders import ENCODERS

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert train_main(["--list-models"]) == 0
    assert capsys.readouterr().out == out
    lines = out.splitlines()
    assert max(map(len, lines)) <= 100 and len(lines) < 70
    words = out.split()
    for architecture in models.architectures():
        pattern = f"{architecture.name}_<encoder>" if architecture.takes_encoder else architecture.name
        assert words.count(pattern) == 1, pattern
        assert words.count(architecture.family) >= 1
    assert all(words.count(encoder) == 1 for encoder in ENCODERS)  # no <decoder>_<encoder> name repeats them
    assert "unet_resnet34" not in words[words.index("family"):]  # examples aside, no full names
    fpn = next(line for line in lines if line.startswith("FPN "))
    assert fpn.split()[:2] == ["FPN", "fpn_<encoder>"]
    assert "  ConvNeXt        convnext_tiny convnext_small convnext_base" in lines


def test_models_name_shows_its_options_encoders_and_an_example(capsys):
    from tfseg.cli import main

    assert main(["models", "unet"]) == 0
    out = capsys.readouterr().out
    own, decoder = out.split("\n\n")
    assert own.startswith("unet (U-Net): the baseline") and decoder.startswith("unet_<encoder> (U-Net): ")
    assert "\n  base_filters  16\n" in own and "\n  depth         4\n" in own  # from build_unet's signature
    assert "encoders: any of the 33 of `tfseg models`: resnet18 resnet34" in decoder
    assert "  decoder_filters  [256,128,64,32,16]" in decoder and "tfseg train --model unet_effb3" in decoder
    assert "--set 'model.options.decoder_filters=[256,128,64,32,16]'" in decoder  # quoted for the shell
    assert main(["models", "fpn_resnet34"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fpn_resnet34 (FPN): ") and "encoder: resnet34, ResNet34 (ResNet), ImageNet weights from torchvision" in out
    assert "decoder_merge_policy           add" in out
    assert "tfseg train --model fpn_resnet34 --encoder-weights imagenet \\\n      --set model.options.decoder_pyramid_channels=256" in out


def test_models_unknown_name_suggests_the_closest():
    result = _tfseg("models", "unet_resnet43")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown model 'unet_resnet43'; did you mean unet_resnet34,")


@pytest.mark.slow
def test_zoo_model_trains_and_evaluates_from_the_command_line(tiny_dataset, tmp_path, capsys):
    """train.py and evaluate.py on DeepLabV3+ with the torchvision-layout ResNet-18, as a
    user runs them; then --encoder-weights imagenet without network is a one-line error
    (train.py's command line in this process)."""
    config = tmp_path / "small.yaml"
    config.write_text("model:\n  options: {decoder_channels: 8}\ntrain:\n  batch_size: 4\n")
    run_dir = tmp_path / "run"
    common = ["--model", "deeplabv3plus_resnet18", "--config", str(config), "--data", str(tiny_dataset), "--image-size", "32", "32"]
    train = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *common, "--epochs", "1", "--run-dir", str(run_dir)], capture_output=True, text=True
    )
    assert train.returncode == 0, train.stderr[-2000:]
    evaluate = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), str(run_dir), "--split", "test"], capture_output=True, text=True)
    assert evaluate.returncode == 0, evaluate.stderr[-2000:]
    assert "dice" in evaluate.stdout.lower()
    capsys.readouterr()
    code = train_main([*common, "--epochs", "1", "--encoder-weights", "imagenet", "--run-dir", str(tmp_path / "imagenet")])
    if code != 0:  # no network, as on the development machines
        stderr = capsys.readouterr().err
        assert code == 2 and "Traceback" not in stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("error: resnet18: ImageNet weights not cached and cannot be downloaded")
        assert not (tmp_path / "imagenet").exists()


TF_LOG_PREFIXES = ("I0000", "W0000", "E0000", "WARNING: All log messages")
"""How TensorFlow's and absl's start-up lines begin."""


def _tfseg(*arguments, env=None):
    """`python -m tfseg ARGUMENTS...` in a fresh Python, from the repository root, with `env` added to the environment."""
    return subprocess.run([sys.executable, "-m", "tfseg", *arguments], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_tfseg_help_lists_the_commands():

    main_help, train_help = _tfseg("--help"), _tfseg("train", "--help")
    assert main_help.returncode == 0 and train_help.returncode == 0, main_help.stderr + train_help.stderr
    assert main_help.stdout.startswith("usage: tfseg") and all(f"\n  {name} " in main_help.stdout for name in COMMANDS)
    assert train_help.stdout.startswith("usage: tfseg train") and "--image-size" in train_help.stdout
    assert not main_help.stderr and not train_help.stderr


def test_help_does_not_import_tensorflow():
    helps = [["--help"], *([command, "--help"] for command in COMMANDS), ["weights", "list", "--help"],
             ["weights", "download", "--help"]]
    exits, modules = cli_in_fresh_python(*helps)
    assert exits == [(0, "")] * len(helps) and modules == []


def test_inspect_hides_tensorflow_start_up_lines_unless_verbose(tiny_dataset, tmp_path):
    cache = {"TFSEG_CACHE": str(tmp_path)}
    quiet = _tfseg("inspect", str(tiny_dataset), env=cache)
    verbose = _tfseg("--verbose", "inspect", str(tiny_dataset), env=cache)
    assert quiet.returncode == 0 and verbose.returncode == 0, quiet.stderr[-1500:] + verbose.stderr[-1500:]
    assert "24 image/mask pairs" in quiet.stdout and "no problems found" in quiet.stdout
    assert f"fingerprint: {tmp_path / 'fingerprints'}" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if line.startswith(TF_LOG_PREFIXES)], quiet.stderr
    assert [line for line in verbose.stderr.splitlines() if line.startswith(TF_LOG_PREFIXES)], verbose.stderr


def test_unknown_flag_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as raised:
        train_main(["--image-sise", "64", "64"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert raised.value.code == 2
    assert "unrecognized arguments: --image-sise 64 64; did you mean --image-size?" in err and len(err) < 300


def _parsers():
    """Each command's argument parser, by command."""
    from tfseg.cli.auto import auto_parser
    from tfseg.cli.compare import compare_parser
    from tfseg.cli.evaluate import evaluate_parser
    from tfseg.cli.export import export_parser
    from tfseg.cli.inspect import inspect_parser
    from tfseg.cli.models import models_parser
    from tfseg.cli.plan import plan_parser
    from tfseg.cli.predict import predict_parser
    from tfseg.cli.train import train_parser
    from tfseg.cli.view import view_parser
    from tfseg.cli.weights import weights_parser

    parsers = {"train": train_parser, "evaluate": evaluate_parser, "predict": predict_parser, "export": export_parser,
               "compare": compare_parser, "inspect": inspect_parser, "plan": plan_parser, "models": models_parser,
               "weights": weights_parser, "view": view_parser, "auto": auto_parser}
    return {command: make(f"tfseg {command}") for command, make in parsers.items()}


def test_every_command_help_ends_with_examples_that_parse(monkeypatch):
    """Each command's --help ends with examples; each parses with its parser ($DATA and the
    demo data as they are); no help line is wider than 100 columns."""
    import shlex


    monkeypatch.setenv("COLUMNS", "100")
    parsers = _parsers()
    assert set(parsers) == set(COMMANDS)
    for command, parser in parsers.items():
        text = parser.format_help()
        assert max(map(len, text.splitlines())) <= 100, command
        examples = text.split("\nexamples:\n")[1].replace("\\\n", " ").splitlines()
        assert len(examples) >= 3 and all(line.startswith(f"  tfseg {command}") for line in examples), command
        for line in examples:
            argv = shlex.split(line.split("  # ")[0], posix=True)[2:]
            parser.parse_args(argv)  # SystemExit (exit 2) if an example is wrong


def test_abbreviated_flags_are_errors_that_name_the_flag(capsys):
    with pytest.raises(SystemExit) as raised:
        train_main(["--epoch", "3"])
    assert raised.value.code == 2
    assert "unrecognized arguments: --epoch 3; did you mean --epochs" in capsys.readouterr().err


def test_choices_and_malformed_set_are_refused_before_tensorflow_loads():
    """A bad --tta, --postprocess, --precision, --optimizer or a --set without = is exit 2 with
    argparse's message, before TensorFlow (or a model) is loaded."""
    exits, modules = cli_in_fresh_python(
        ["evaluate", "RUN", "--tta", "flipp"], ["predict", "RUN", "x.png", "--postprocess", "largest"],
        ["evaluate", "RUN", "--postprocess", "remove-small=0+fill-holes"],
        ["evaluate", "RUN", "--precision", "float16"], ["train", "--optimizer", "lamb"],
        ["train", "--set", "train.epochs"], ["inspect", "--set", "=3"], ["predict", "RUN", "x", "--batch-size", "0"],
    )
    assert exits == [
        (2, "tfseg evaluate: error: argument --tta: invalid choice: 'flipp' (choose from 'none', 'flip', 'flip-all')"),
        (2, "tfseg predict: error: argument --postprocess: expected none, or steps joined by + of largest-component, "
            "fill-holes, remove-small=N (N >= 1 pixels), got 'largest'"),
        (2, "tfseg evaluate: error: argument --postprocess: expected none, or steps joined by + of largest-component, "
            "fill-holes, remove-small=N (N >= 1 pixels), got 'remove-small=0+fill-holes'"),
        (2, "tfseg evaluate: error: argument --precision: invalid choice: 'float16' (choose from 'float32', "
            "'mixed_bfloat16_convs', 'auto')"),
        (2, "tfseg train: error: argument --optimizer: invalid choice: 'lamb' (choose from 'adam', 'adamw', 'sgd', "
            "'rmsprop')"),
        (2, "tfseg train: error: argument --set: expected KEY=VALUE (e.g. train.lr=3e-4), got 'train.epochs'"),
        (2, "tfseg inspect: error: argument --set: expected KEY=VALUE (e.g. train.lr=3e-4), got '=3'"),
        (2, "tfseg predict: error: argument --batch-size: expected a whole number >= 1, got '0'"),
    ]
    assert modules == []


def test_set_errors_name_the_key(capsys, tiny_dataset):
    common = ["--data", str(tiny_dataset), "--image-size", "32", "32", "--epochs", "1", "--no-plan"]
    err = _one_line_error(capsys, [*common, "--set", "train.epoch=3", "--inspect"])
    assert err.startswith("error: --set train.epoch: unknown config key; did you mean train.epochs")
    err = _one_line_error(capsys, [*common, "--set", "data.channels=2", "--inspect"])
    assert err == "error: data.channels: expected one of [1, 3], got 2"
    err = _one_line_error(capsys, [*common, "--set", "model.options.base_filterz=4", "--run-dir", "never"])
    assert "unexpected keyword argument 'base_filterz'" in err and not Path("never").exists()  # the builder checks
    err = _one_line_error(capsys, ["--resume", "nowhere", "--set", "train.epoch=3"])
    assert err.startswith("error: --set train.epoch: unknown config key")


def test_inspect_takes_set(capsys, tiny_dataset):
    from tfseg.cli import main

    assert main(["inspect", str(tiny_dataset), "--set", "data.mask_threshold=100"]) == 0
    assert "foreground is a stored value > 100 (data.mask_threshold)" in capsys.readouterr().out


@pytest.mark.slow
def test_set_reaches_the_saved_config_and_the_built_model(tiny_dataset, tmp_path):
    """`tfseg train --config --set ... --epochs`: --set over the file (a builder option joins the
    file's), the flag over --set; the run's config.yaml and its model have the values."""
    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text("model:\n  options: {depth: 2, base_filters: 8}\ntrain: {batch_size: 4, epochs: 3}\n")
    run_dir = tmp_path / "run"
    result = _tfseg("train", "--config", str(config), "--data", str(tiny_dataset), "--image-size", "32", "32",
                    "--set", "model.options.base_filters=4", "--set", "train.lr=3e-4", "--set", "data.augment=light",
                    "--set", "train.epochs=2", "--epochs", "1", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["model"]["options"] == {"depth": 2, "base_filters": 4}
    assert saved["train"]["lr"] == 3e-4 and saved["data"]["augment"] == "light" and saved["train"]["epochs"] == 1
    assert len(pd.read_csv(run_dir / "history.csv")) == 1
    model = keras.saving.load_model(run_dir / "best.keras")
    first_conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert first_conv.filters == 4


def test_export_batch_has_its_former_spelling_with_a_warning(tmp_path):
    """export.py --batch (before --export-batch): the same value, a deprecation line on stderr."""
    from tfseg.cli.export import export_parser

    assert export_parser().parse_args(["RUN", "--batch", "2"]).export_batch == 2
    assert export_parser().parse_args(["RUN", "--export-batch", "3"]).export_batch == 3
    assert "--batch" not in export_parser().format_help()
    former, current = _tfseg("export", str(tmp_path), "--batch", "1"), _tfseg("export", str(tmp_path), "--export-batch", "1")
    assert former.returncode == current.returncode == 2
    assert former.stderr.splitlines() == ["tfseg: --batch is deprecated; use --export-batch", current.stderr.strip()]
    assert current.stderr.startswith("error: ") and "not a run directory" in current.stderr


def test_predict_writes_into_the_run_or_here_without_out(binary_run, tiny_dataset, tmp_path, monkeypatch, capsys):
    from tfseg.cli import predict_main

    images = sorted((tiny_dataset / "images").glob("*.png"))[:2]
    assert predict_main([str(binary_run), *map(str, images)]) == 0
    assert sorted(path.name for path in (binary_run / "predictions" / "masks").iterdir()) == [p.name for p in images]
    assert f"masks in {binary_run / 'predictions' / 'masks'}" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert predict_main([str(binary_run / "best.keras"), str(images[0])]) == 0
    assert [path.name for path in (tmp_path / "predictions" / "masks").iterdir()] == [images[0].name]


def test_evaluate_batch_size_reaches_prediction(binary_run, tmp_path, monkeypatch):
    """--batch-size of evaluate.py is the batch of its forward passes (default: the run's train.batch_size)."""
    import tfseg.evaluation.report as report

    batches = []

    def predict_and_note(model, images, batch_size, **options):
        batches.append(batch_size)
        return predict(model, images, batch_size=batch_size, **options)

    monkeypatch.setattr(report, "predict", predict_and_note)
    assert evaluate_main([str(binary_run), "--batch-size", "3", "--out", str(tmp_path / "b3")]) == 0
    assert evaluate_main([str(binary_run), "--out", str(tmp_path / "default")]) == 0
    assert batches == [3, 8]
