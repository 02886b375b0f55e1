"""The run directory: paths, config reading, model loading, geometry and the model card."""

import pandas as pd
import pytest

from tfseg.config import Config
from tfseg.errors import TfsegError
from tfseg.run import RunDir, create_run_dir, describe_geometry, load_predictor, model_card, read_config, trim_history


def _config(crop: int = 0, size=(48, 64)) -> Config:
    config = Config()
    config.data.image_size, config.data.crop = list(size), crop
    return config


def test_geometry_and_model_card_say_how_the_model_sees_an_image():
    resized, cropped = _config(size=(48, 64)), _config(crop=32, size=(32, 32))
    assert describe_geometry(resized).startswith("resize to 48x64 (height x width")
    assert describe_geometry(cropped).startswith("sliding window of 32x32 (height x width) windows at native resolution")
    resize_card, crop_card = model_card(resized, "val_iou", 0.9, 3), model_card(cropped, "val_iou", 0.9, 3)
    assert describe_geometry(resized) in resize_card["preprocessing"]
    assert describe_geometry(cropped) in crop_card["preprocessing"]
    assert "resize to" not in crop_card["preprocessing"]  # the card once said "resize to" for crop-trained runs
    assert resize_card["input"]["shape"] == [None, 48, 64, 1]


def test_run_dir_layout_and_config_round_trip(tmp_path):
    config = _config()
    config.train.run_dir = str(tmp_path / "run")
    run = create_run_dir(config)
    assert run.path == tmp_path / "run" and run.path.is_dir()
    assert (run.config, run.history, run.best, run.last) == tuple(
        run.path / name for name in ("config.yaml", "history.csv", "best.keras", "last.keras")
    )
    assert run.eval_dir("val") == run.path / "eval" / "val" and run.worker("worker-1").path == run.path / "workers" / "worker-1"
    config.save(run.config)
    assert read_config(run.path) == config
    assert read_config(run.path, {"train.epochs": 99}).train.epochs == 99
    with pytest.raises(TfsegError, match="already holds a run"):
        create_run_dir(config)


def test_missing_runs_and_models_give_one_line_errors(tmp_path):
    with pytest.raises(TfsegError, match="no config.yaml there"):
        read_config(tmp_path)
    with pytest.raises(TfsegError, match="does not exist, expected a run directory"):
        load_predictor(tmp_path / "nothing")
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(TfsegError, match="not a model"):
        load_predictor(tmp_path / "model.txt")
    Config().save(RunDir(tmp_path).config)
    with pytest.raises(TfsegError, match="no best.keras"):
        load_predictor(tmp_path)


def test_trim_history_keeps_each_backed_up_epoch_once(tmp_path):
    path = tmp_path / "history.csv"
    pd.DataFrame({"epoch": [0, 1, 2, 1, 2, 3], "loss": [5.0, 4.0, 3.0, 4.1, 3.1, 2.0]}).to_csv(path, index=False)
    kept = trim_history(path, 3)
    assert kept["epoch"].tolist() == [0, 1, 2] and kept["loss"].tolist() == [5.0, 4.1, 3.1]
    assert pd.read_csv(path)["epoch"].tolist() == [0, 1, 2]
