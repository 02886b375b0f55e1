"""Training: resume, the exported best model, deep supervision and failures, on tiny models.
Strategies and precision: tests/test_distribution.py; optimizers: tests/test_optim.py."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from tests.conftest import finish, run_script, tiny_config
from tfseg import cli
from tfseg.errors import TfsegError
from tfseg.training import build_model, resume_run, train


class StopAtEpoch(keras.callbacks.Callback):
    """Interrupts training at the start of epoch `epoch` (0-based), as a crash would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"interrupted at epoch {epoch}")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """16 synthetic 32×32 pairs: train 8, val 4, test 4."""
    from tfseg.data.synthetic import write_demo_dataset

    folder = write_demo_dataset(tmp_path_factory.mktemp("data") / "small", samples=16, size=32, seed=5)
    splits = pd.read_csv(folder / "splits.csv")
    splits["split"] = ["train"] * 8 + ["val"] * 4 + ["test"] * 4
    splits.to_csv(folder / "splits.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def resumed_run(small_data, tmp_path_factory):
    """A 3-epoch run interrupted at the start of epoch 3 (two epochs done), then resumed."""
    run_dir = tmp_path_factory.mktemp("runs") / "resumed"
    config = tiny_config(small_data, run_dir, epochs=3, schedule="poly")
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[StopAtEpoch(2)])
    interrupted = pd.read_csv(run_dir / "history.csv")
    resume_run(run_dir, {"train.export": ["tflite"]})
    return run_dir, interrupted


def test_resume_continues_from_last_completed_epoch(resumed_run):
    run_dir, interrupted = resumed_run
    assert interrupted["epoch"].tolist() == [0, 1]  # the interrupted run kept its directory
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(history.iloc[:2], interrupted)  # old rows untouched
    last = keras.saving.load_model(run_dir / "last.keras")
    steps = 2  # 8 training images, batch 4
    assert int(last.optimizer.iterations.numpy()) == 3 * steps  # optimizer state carried over
    assert float(keras.ops.convert_to_numpy(last.optimizer.learning_rate)) == pytest.approx(0.0, abs=1e-9)  # poly ended
    card = json.loads((run_dir / "export" / "model_card.json").read_text())
    best_epoch = int(history["val_iou"].idxmax())
    assert card["validation"] == {"metric": "val_iou", "value": pytest.approx(history["val_iou"].max()), "epoch": best_epoch}
    assert card["input"]["shape"] == [None, 32, 32, 1] and card["threshold"] == 0.5
    assert not (run_dir / "export.partial").exists()
    image_events = list((run_dir / "tensorboard" / "images").glob("events.out.tfevents.*"))
    assert image_events, "no validation images written to TensorBoard"


def test_saved_model_and_tflite_match_best_keras(resumed_run):
    run_dir, _ = resumed_run
    images = np.random.default_rng(0).random((3, 32, 32, 1), dtype=np.float32)
    best = keras.saving.load_model(run_dir / "best.keras")
    expected = best.predict(images, verbose=0)
    served = tf.saved_model.load(str(run_dir / "export")).signatures["serving_default"]
    (output,) = served(tf.constant(images)).values()
    np.testing.assert_allclose(output.numpy(), expected, atol=1e-5)
    interpreter = tf.lite.Interpreter(model_path=str(run_dir / "export" / "model.tflite"))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(lite, expected, atol=1e-4)


def test_checkpoints_load_after_import_tfseg_alone(resumed_run, tmp_path):
    run_dir, _ = resumed_run
    source = f"""
    import keras, tfseg
    for name in ("best.keras", "last.keras"):
        print(type(keras.saving.load_model({str(run_dir)!r} + "/" + name).optimizer).__name__)
    """
    assert finish(run_script(source, tmp_path)).split() == ["Adam", "Adam"]


def test_deep_supervision_trains_on_the_mean_head_loss_and_exports_the_last_head(small_data, tmp_path):
    depth = 2
    run_dir, options = tmp_path / "ds", tmp_path / "options.yaml"
    options.write_text(yaml.safe_dump({"model": {"options": {"depth": depth, "base_filters": 4}}}))
    assert cli.train_main([
        "--data", str(small_data), "--model", "unetpp", "--deep-supervision", "--epochs", "2",
        "--image-size", "32", "32", "--batch-size", "4", "--augment", "none", "--run-dir", str(run_dir),
        "--config", str(options),
    ]) == 0
    history = pd.read_csv(run_dir / "history.csv")
    heads = [f"head{j}_sigmoid_loss" for j in range(1, depth + 1)]
    assert {"iou", "dice", "val_iou", "val_dice", *heads, *("val_" + head for head in heads)} <= set(history)
    for stage in ("", "val_"):  # the loss is the mean of the heads' losses
        np.testing.assert_allclose(history[stage + "loss"], history[[stage + h for h in heads]].mean(axis=1), rtol=1e-4)
    best = keras.saving.load_model(run_dir / "best.keras")
    assert len(best.outputs) == depth
    images = np.random.default_rng(1).random((2, 32, 32, 1), dtype=np.float32)
    last_head = best.predict(images, verbose=0)[-1]
    served = tf.saved_model.load(str(run_dir / "export")).signatures["serving_default"]
    (output,) = served(tf.constant(images)).values()  # the export has one output: the last head
    np.testing.assert_allclose(output.numpy(), last_head, atol=1e-5)
    card = json.loads((run_dir / "export" / "model_card.json").read_text())
    assert card["validation"]["value"] == pytest.approx(history["val_iou"].max())
    assert cli.evaluate_main([str(run_dir), "--split", "test"]) == 0
    summary = json.loads((run_dir / "eval" / "test" / "summary.json").read_text())
    assert summary["images"] == 4 and 0 <= summary["scores"]["dice"]["mean"] <= 1


def test_failure_before_first_epoch_removes_run_dir(small_data, tmp_path):
    run_dir = tmp_path / "failed"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(small_data, run_dir, epochs=2, tensorboard_images=0), callbacks=[StopAtEpoch(0)])
    assert not run_dir.exists()


def test_resume_refuses_changed_model_and_missing_run(small_data, tmp_path, capsys):
    assert cli.train_main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "no config.yaml" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    tiny_config(small_data).save(tmp_path / "run" / "config.yaml")
    assert cli.train_main(["--resume", str(tmp_path / "run"), "--lr", "0.1"]) == 2
    assert "train.lr cannot change on resume" in capsys.readouterr().err


def test_encoder_options_need_a_model_with_an_encoder(tmp_path):
    with pytest.raises(TfsegError, match="has no pretrained encoder"):
        build_model(tiny_config(tmp_path, encoder_lr_multiplier=0.1))
