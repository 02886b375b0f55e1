"""The run directory: its layout, its config, its models and its model card.

Everything that knows where a file of a run lives, or how to read it back, is here;
training writes a run, evaluation and prediction read it, and none of them spells a path
of its own::

    runs/<name>/
      config.yaml     the resolved config (`read_config`)
      history.csv     one row per epoch (`trim_history`)
      best.keras      the best epoch (`load_run_model`); last.keras: the last epoch
      backup/         BackupAndRestore state for --resume (`completed_epochs`)
      export/         SavedModel, model_card.json (`model_card`), optional model.tflite
      tensorboard/    scalars and validation images
      curves.png      loss and metrics per epoch
      eval/<split>/   evaluate.py's outputs
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from tfseg.config import Config, load_config
from tfseg.errors import TfsegError
from tfseg.export import SAVED_MODEL_ENDPOINT
from tfseg.files import write_atomically


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
        """BackupAndRestore state for --resume."""
        return self.path / "backup"

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


def load_run_model(run_dir: str | Path) -> keras.Model:
    """Loads a run's `best.keras` for inference (no custom_objects needed).

    Loaded with `compile=False`: prediction needs neither the optimizer nor the loss.
    """
    run = RunDir(run_dir)
    if not run.best.is_file():
        raise TfsegError(f"{run.path}: no best.keras, the run did not finish its first epoch")
    return keras.saving.load_model(run.best, compile=False)


def load_model_file(path: str | Path) -> keras.Model:
    """Loads a model for prediction from a `.keras` file or a SavedModel folder.

    A SavedModel (e.g. a run's `export/`) is wrapped as `keras.layers.TFSMLayer` calling
    its `serve` endpoint, inside a `keras.Model` with the endpoint's input shape, so it
    predicts exactly like the `.keras` model.

    Args:
        path: str or Path. A `.keras` file or a folder holding `saved_model.pb`.

    Returns:
        A keras.Model that outputs probabilities.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".keras":
        return keras.saving.load_model(path, compile=False)  # inference: no optimizer or loss
    if (path / "saved_model.pb").is_file():
        import tensorflow as tf

        endpoint = tf.saved_model.load(str(path)).signatures.get(SAVED_MODEL_ENDPOINT)
        if endpoint is None:
            raise TfsegError(f"{path}: SavedModel has no {SAVED_MODEL_ENDPOINT!r} endpoint, expected one written by model.export")
        (spec,) = endpoint.structured_input_signature[1].values()
        inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name)
        outputs = keras.layers.TFSMLayer(str(path), call_endpoint=SAVED_MODEL_ENDPOINT)(inputs)
        return keras.Model(inputs, outputs, name=path.name)
    raise TfsegError(f"{path}: not a model, expected a .keras file or a SavedModel folder (saved_model.pb)")


def load_predictor(path: str | Path) -> tuple[keras.Model, Config | None]:
    """A model to predict with and, for a run directory, its config.

    Args:
        path: str or Path. A run directory (best.keras + config.yaml), a `.keras` file
            or a SavedModel folder (e.g. a run's `export/`).
    """
    path = Path(path)
    if RunDir(path).config.is_file():
        return load_run_model(path), read_config(path)
    if not path.exists():
        raise TfsegError(f"{path}: does not exist, expected a run directory, a .keras file or a SavedModel folder")
    return load_model_file(path), None


def completed_epochs(run_dir: str | Path) -> int:
    """Epochs finished by the run in `run_dir`, as recorded by BackupAndRestore (0 if none)."""
    metadata = RunDir(run_dir).backup / "training_metadata.json"
    if not metadata.is_file():
        return 0
    return int(json.loads(metadata.read_text())["epoch"])


def trim_history(history_csv: Path, epochs: int) -> pd.DataFrame | None:
    """Keeps the rows of epochs 0..epochs-1 in `history_csv`, each once (the last written).

    A run killed after CSVLogger wrote an epoch's row but before BackupAndRestore saved
    that epoch repeats it on resume; trimming to the backed-up epochs first keeps every
    epoch exactly once.

    Returns:
        The kept rows, or None when there is no history file.
    """
    if not history_csv.is_file() or history_csv.stat().st_size == 0:
        return None
    history = pd.read_csv(history_csv)
    history = history[history["epoch"] < epochs].drop_duplicates("epoch", keep="last").sort_values("epoch")
    write_atomically(history_csv, history.to_csv(index=False))
    return history


def is_crop_trained(config: Config) -> bool:
    """True when a run trained on native-resolution crops (`data.crop` > 0): it saw
    native pixels in model-sized crops, so it predicts by sliding window at scale 1. A
    resize-trained run saw each whole image resized to its input and predicts by
    whole-image resize."""
    return config.data.crop > 0


def describe_geometry(config: Config) -> str:
    """How a run's model sees an image, in words (model card, evaluation summary, report)."""
    height, width = config.data.image_size
    if is_crop_trained(config):
        return (
            f"sliding window of {height}x{width} (height x width) windows at native resolution "
            "(the model trained on random crops of that size)"
        )
    return f"resize to {height}x{width} (height x width; area when shrinking, bilinear when enlarging)"


def model_card(config: Config, monitor: str, score: float | None, best_epoch: int | None) -> dict[str, Any]:
    """What a user of the exported model needs: input, preprocessing, output, score.

    Args:
        config: Config. The run's resolved config.
        monitor: str. The validation metric the best model was chosen by.
        score: float or None. Its value at the best epoch.
        best_epoch: int or None. That epoch (0-based).
    """
    data = config.data
    height, width = data.image_size
    colour = "grey" if data.channels == 1 else "RGB"
    return {
        "model": config.model.name,
        "model_options": config.model.options,
        "input": {"shape": [None, height, width, data.channels], "dtype": "float32", "channels": colour},
        "preprocessing": (
            f"read as {colour}, {describe_geometry(config)}, scale to [0, 1] (divide 8-bit images by 255, "
            "16-bit by 65535)"
        ),
        "classes": data.classes,
        "output": (
            "sigmoid foreground probability, shape (N, H, W, 1)"
            if data.classes == 1
            else f"softmax probabilities of {data.classes} classes, shape (N, H, W, {data.classes})"
        ),
        "threshold": 0.5 if data.classes == 1 else "argmax",
        "validation": {"metric": monitor, "value": score, "epoch": best_epoch},
        "saved_model_endpoint": SAVED_MODEL_ENDPOINT,
    }
