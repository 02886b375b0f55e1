"""The run directory: where each file of a run lives (`RunDir`), and its config.

Training writes a run, evaluation and prediction read it, and none of them spells a path
of its own::

    runs/<name>/
      config.yaml     the resolved config (`read_config`)
      history.csv     one row per epoch (`tfseg.run_state.trim_history`)
      best.keras      the best epoch, saved as the float32 model the exports are
                      (`tfseg.export.load_run_model`); last.keras: the last epoch, in the
                      training precision
      backup/         the last two states for --resume: epoch-<N>/ (`tfseg.run_state`)
      .lock           held by the process training the run (`tfseg.run_state.RunLock`)
      export/         SavedModel, model_card.json, optional formats (`tfseg.export`)
      tensorboard/    scalars and validation images
      curves.png      loss and metrics per epoch
      eval/<split>/   evaluate.py's outputs
      predictions/    predict.py's outputs when it is given no --out
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tfseg.config import Config, load_config
from tfseg.errors import TfsegError


class RunDir:
    """The paths of one run directory.

    Args:
        path: str or Path. The run directory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def config(self) -> Path:
        """The resolved config (YAML)."""
        return self.path / "config.yaml"

    @property
    def history(self) -> Path:
        """Loss and metrics, one row per epoch (CSV)."""
        return self.path / "history.csv"

    @property
    def best(self) -> Path:
        """The model at the best monitored epoch."""
        return self.path / "best.keras"

    @property
    def last(self) -> Path:
        """The model and optimizer after the last epoch."""
        return self.path / "last.keras"

    @property
    def backup(self) -> Path:
        """The saved training states (weights and optimizer after an epoch) for --resume."""
        return self.path / "backup"

    @property
    def lock(self) -> Path:
        """The lock file of the process training the run."""
        return self.path / ".lock"

    @property
    def export(self) -> Path:
        """SavedModel, model card, optional TFLite."""
        return self.path / "export"

    @property
    def tensorboard(self) -> Path:
        """TensorBoard logs."""
        return self.path / "tensorboard"

    @property
    def curves(self) -> Path:
        """Loss and metrics per epoch (figure)."""
        return self.path / "curves.png"

    def eval_dir(self, split: str) -> Path:
        """Where evaluate.py writes the results of one split by default."""
        return self.path / "eval" / split

    @property
    def predictions(self) -> Path:
        """Where predict.py writes the masks of the run's model by default."""
        return self.path / "predictions"

    def worker(self, name: str) -> RunDir:
        """The folder a non-chief multi-worker replica writes into."""
        return RunDir(self.path / "workers" / name)


def create_run_dir(config: Config) -> RunDir:
    """Creates the run directory (`train.run_dir` or `runs/<model>-<timestamp>`).

    Raises:
        TfsegError: the directory already holds a run.
    """
    run = RunDir(config.train.run_dir or f"runs/{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run.config.exists():
        raise TfsegError(f"--run-dir {run.path}: already holds a run (config.yaml); choose a new folder or --resume it")
    run.path.mkdir(parents=True, exist_ok=True)
    return run


def read_config(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """The resolved config saved in a run directory, with optional dotted-key overrides.

    Raises:
        TfsegError: there is no config.yaml, or it is not a valid config.
    """
    run = RunDir(run_dir)
    if not run.config.is_file():
        raise TfsegError(f"{run.path}: no config.yaml there; expected a run directory written by train.py")
    return load_config(run.config, overrides)
