"""The training-recipe options a planner sets (issue 31), end to end on tiny data: crops
centred on foreground (`data.foreground_crops`), epochs of a fixed number of steps
(`train.steps_per_epoch`) and z-score normalisation (`data.normalize`) through train,
resume, evaluate, predict and the export's model card."""

import json
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
import pytest
import yaml

import tfseg

from tests.conftest import stop_at_epoch, tiny_config
from tfseg.cli import evaluate_main, predict_main, train_main
from tfseg.data import load_table, model_inputs, read_image, split_rows, to_model_input
from tfseg.export.loading import load_run_model
from tfseg.inference import predict
from tfseg.run import read_config
from tfseg.training import resume_run, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data16(tmp_path_factory):
    """12 grey 32x32 images stored as 16-bit with 12-bit values (a disc brighter than the
    background), split train 6, val 3, test 3."""
    folder = tmp_path_factory.mktemp("data16")
    (folder / "images").mkdir()
    (folder / "masks").mkdir()
    rng = np.random.default_rng(7)
    ids = [f"x{i:02d}" for i in range(12)]
    for sample_id in ids:
        mask = np.zeros((32, 32), np.uint8)
        cv2.circle(mask, (int(rng.integers(8, 24)), int(rng.integers(8, 24))), int(rng.integers(3, 7)), 255, -1)
        image = 800 + (mask > 0) * 900 + rng.normal(0, 120, (32, 32))
        cv2.imwrite(str(folder / "images" / f"{sample_id}.png"), np.clip(image, 0, 4095).astype(np.uint16))
        cv2.imwrite(str(folder / "masks" / f"{sample_id}.png"), mask)
    pd.DataFrame({"id": ids, "split": ["train"] * 6 + ["val"] * 3 + ["test"] * 3}).to_csv(folder / "splits.csv", index=False)
    return folder


def _iterations(run_dir):
    return int(keras.saving.load_model(run_dir / "last.keras").optimizer.iterations.numpy())


@pytest.mark.slow
def test_steps_per_epoch_counts_optimizer_steps_and_resume_keeps_counting(data16, tmp_path):
    """3 steps of batch 4 per epoch over 6 training images: epochs cross passes; the poly
    schedule spans epochs x 3 steps and ends at 0 on the last step, also after a resume."""
    run_dir = tmp_path / "run"
    config = tiny_config(data16, run_dir, epochs=3, schedule="poly", steps_per_epoch=3, tensorboard_images=0)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[stop_at_epoch(2)])
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [1, 2]
    interrupted = keras.saving.load_model(run_dir / "last.keras").optimizer
    assert int(interrupted.iterations.numpy()) == 2 * 3
    rate = float(keras.ops.convert_to_numpy(interrupted.learning_rate))
    assert rate == pytest.approx(1e-3 * (1 - 6 / 9) ** 0.9, rel=1e-4)  # 6 of 9 scheduled steps, not of 2 passes' 6
    resume_run(run_dir)
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [1, 2, 3]
    last = keras.saving.load_model(run_dir / "last.keras")
    assert int(last.optimizer.iterations.numpy()) == 3 * 3
    assert float(keras.ops.convert_to_numpy(last.optimizer.learning_rate)) == pytest.approx(0.0, abs=1e-9)
    resume_run(run_dir, {"train.epochs": 4})  # extended: one more epoch of 3 steps
    assert _iterations(run_dir) == 4 * 3


@pytest.mark.slow
def test_foreground_crops_and_steps_per_epoch_from_the_command_line(data16, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_main([
        "--data", str(data16), "--config", str(ROOT / "tests" / "tiny_unet.yaml"), "--crop", "16",
        "--foreground-crops", "0.5", "--steps-per-epoch", "5", "--epochs", "1", "--batch-size", "2",
        "--augment", "none", "--tensorboard-images", "0", "--run-dir", str(run_dir),
    ]) == 0
    assert "1 epoch, 5 steps each" in capsys.readouterr().out
    assert len(pd.read_csv(run_dir / "history.csv")) == 1
    assert _iterations(run_dir) == 5
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["data"]["foreground_crops"] == 0.5 and saved["train"]["steps_per_epoch"] == 5


@pytest.mark.slow
def test_zscore_trains_evaluates_and_predicts_with_the_pipeline_values(data16, tmp_path):
    """16-bit images with a 12-bit range: the run's model card says zscore, and predict.py (on the run
    and on its export folder) feeds the model the values the training pipeline fed it."""
    run_dir = tmp_path / "run"
    assert train_main([
        "--data", str(data16), "--config", str(ROOT / "tests" / "tiny_unet.yaml"), "--image-size", "32", "32",
        "--normalize", "zscore", "--epochs", "1", "--batch-size", "3", "--tensorboard-images", "1",
        "--run-dir", str(run_dir),
    ]) == 0
    assert evaluate_main([str(run_dir), "--split", "test"]) == 0
    assert len(pd.read_csv(run_dir / "eval" / "test" / "per_image.csv")) == 3
    card = json.loads((run_dir / "export" / "model_card.json").read_text())
    assert card["normalize"] == "zscore" and "z-score each channel" in card["preprocessing"] and "scale" not in card

    config = read_config(run_dir)
    row = split_rows(load_table(config.data, config.train.seed), "test").head(1)
    image = read_image(row["image_path"].iloc[0], 1)
    fed = model_inputs(row, config.data, 1)[0]  # what validation fed the model
    np.testing.assert_allclose(fed, to_model_input(image, (32, 32), "zscore"), atol=1e-6)
    assert abs(float(fed.mean())) < 1e-4 and float(fed.std()) == pytest.approx(1.0, abs=1e-3)
    model = load_run_model(run_dir)
    expected = model.predict_on_batch(fed[None])[0, ..., 0]
    np.testing.assert_allclose(predict(model, [image], normalize="zscore")[0][..., 0], expected, atol=1e-6)

    threshold = float(np.median(expected))  # about half the pixels above: masks that tell inputs apart
    unscaled = predict(model, [image], normalize="scale")[0][..., 0]
    assert np.mean((unscaled > threshold) != (expected > threshold)) > 0.1  # scale would give another mask
    clear = np.abs(expected - threshold) > 1e-4  # pixels no float difference between runtimes can flip
    for model_path in (run_dir, run_dir / "export"):  # the run's config, then the SavedModel's model card
        out = tmp_path / model_path.name
        assert predict_main([str(model_path), row["image_path"].iloc[0], "--out", str(out), "--threshold",
                             str(threshold)]) == 0
        mask = cv2.imread(str(out / "masks" / f"{row['id'].iloc[0]}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal((mask > 0)[clear], (expected > threshold)[clear], err_msg=str(model_path))
    masks = tfseg.predict(run_dir, row["image_path"].iloc[0], threshold=threshold)  # the Python API, the same way
    np.testing.assert_array_equal(masks[0][clear], (expected > threshold)[clear])
