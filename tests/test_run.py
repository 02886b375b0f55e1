"""The run directory: its paths and its config."""

import pytest

from tfseg.config import Config
from tfseg.errors import TfsegError
from tfseg.run import create_run_dir, read_config


def _config(crop: int = 0, size=(48, 64)) -> Config:
    config = Config()
    config.data.image_size, config.data.crop = list(size), crop
    return config


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


def test_a_folder_without_config_is_a_one_line_error(tmp_path):
    with pytest.raises(TfsegError, match="no config.yaml there"):
        read_config(tmp_path)
