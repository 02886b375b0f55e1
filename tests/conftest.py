"""Shared fixtures and helpers: tiny datasets made in temporary folders, ../shared data when
present, and what the tests of more than one module use (tiny configs and runs, scripts in a
fresh Python, small models, DICOM files). Helpers are imported: `from tests.conftest import …`."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def cache_in_tmp_path(tmp_path, monkeypatch):
    """The tfseg cache (demo data, fingerprints) in each test's folder, never ~/.cache/tfseg."""
    monkeypatch.setenv("TFSEG_CACHE", str(tmp_path / "cache"))


def pytest_collection_modifyitems(config, items):
    """The zoo matrix (`@pytest.mark.zoo`) runs only when a -m expression names it, so that
    `-m "not slow"` and the default run both leave it out. Modules with slow tests go first,
    each whole and in its order, so that under xdist (`--dist worksteal`, setup.cfg) the long
    tests start early, the short ones fill the gaps, and a module's fixtures (a trained run)
    are built once per worker, not again for its fast tests after the slow ones."""
    if "zoo" not in (config.option.markexpr or ""):
        zoo = [item for item in items if item.get_closest_marker("zoo")]
        if zoo:
            config.hook.pytest_deselected(items=zoo)
            items[:] = [item for item in items if not item.get_closest_marker("zoo")]
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)


TINY_MODEL = {"name": "unet", "options": {"depth": 2, "base_filters": 4}}


def shared_dataset(name: str) -> Path:
    """A dataset folder under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not (path / "images").is_dir():
        pytest.skip(f"shared dataset {path} is absent (tests read ../shared/data in place)")
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """24 synthetic 64×64 image/mask pairs with a splits.csv (train 16, val 4, test 4)."""
    from tfseg.data.synthetic import write_demo_dataset

    return write_demo_dataset(tmp_path_factory.mktemp("data") / "tiny", samples=24, size=64, seed=3)


def run_config():
    """A `Config` as a run's config.yaml holds it, the settings training decides from the data
    set: grey images, binary masks, threshold 127."""
    from tfseg.config import Config

    config = Config()
    config.data.channels, config.data.classes, config.data.mask_threshold = 1, 1, 127
    return config


@pytest.fixture(scope="module")
def binary_run(tiny_dataset, tmp_path_factory):
    """A run directory (config.yaml, best.keras, history.csv) with an untrained tiny U-Net."""
    import keras

    from tfseg import models

    run_dir = tmp_path_factory.mktemp("run")
    config = run_config()
    config.data.dir, config.data.image_size = str(tiny_dataset), [32, 32]
    config.model.options = {"depth": 2, "base_filters": 4}
    config.train.run_dir = str(run_dir)
    config.save(run_dir / "config.yaml")
    keras.utils.set_random_seed(0)
    models.build("unet", (32, 32, 1), 1, depth=2, base_filters=4).save(run_dir / "best.keras")
    pd.DataFrame({"epoch": [1, 2], "loss": [0.9, 0.7], "val_loss": [0.95, 0.8]}).to_csv(run_dir / "history.csv", index=False)
    return run_dir


@pytest.fixture(scope="module")
def multiclass_run(tmp_path_factory):
    """Eight 32×32 label maps (classes 0, 1, 2) and an untrained 3-class model."""
    import keras

    from tfseg import models

    root = tmp_path_factory.mktemp("multi")
    write_label_dataset(root / "data")
    config = run_config()
    config.data.dir, config.data.image_size, config.data.classes = str(root / "data"), [32, 32], 3
    config.save(root / "config.yaml")
    keras.utils.set_random_seed(0)
    models.build("unet", (32, 32, 1), 3, depth=2, base_filters=4).save(root / "best.keras")
    return root


def write_label_dataset(folder: Path, count: int = 8) -> Path:
    """`count` 32×32 grey images with label maps of classes 0, 1, 2 (splits half train,
    a quarter val, a quarter test) in `folder`."""
    import cv2

    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    ids = [f"m{i}" for i in range(count)]
    for sample_id in ids:
        labels = np.zeros((32, 32), np.uint8)
        labels[rng.integers(0, 12) :, : rng.integers(10, 20)] = 1
        labels[: rng.integers(8, 20), rng.integers(20, 28) :] = 2
        cv2.imwrite(str(folder / "images" / f"{sample_id}.png"), (labels * 90 + rng.integers(0, 40, (32, 32))).astype(np.uint8))
        cv2.imwrite(str(folder / "masks" / f"{sample_id}.png"), labels)
    splits = ["train"] * (count // 2) + ["val"] * (count // 4) + ["test"] * (count - count // 2 - count // 4)
    pd.DataFrame({"id": ids, "split": splits}).to_csv(folder / "splits.csv", index=False)
    return folder


def tiny_config(data_dir, run_dir=None, **train):
    """A 32×32 two-level U-Net config on `data_dir`, grey and binary as `tiny_dataset`."""
    from tfseg.config import config_from_dict

    return config_from_dict(
        {
            "data": {"dir": str(data_dir), "image_size": [32, 32], "augment": "none", "channels": 1, "classes": 1,
                     "mask_threshold": 127},
            "model": TINY_MODEL,
            "train": {"batch_size": 4, "tensorboard_images": 2, "run_dir": str(run_dir) if run_dir else None, **train},
        }
    )


def run_script(source: str, tmp_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Starts `source` in a fresh Python (TF device set-up must precede TF initialisation)."""
    script = tmp_path / f"script_{abs(hash(source))}.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )


def stop_at_epoch(epoch: int):
    """A Keras callback that interrupts training at the start of epoch `epoch` (0-based), as a crash would."""
    import keras

    class StopAtEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, index, logs=None):
            if index == epoch:
                raise KeyboardInterrupt(f"interrupted at epoch {index}")

    return StopAtEpoch()


def cli_in_fresh_python(*argvs: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """Runs `tfseg ARGV` for each argv in one fresh Python: ([(exit code, last stderr line)
    of each], the TensorFlow and Keras modules loaded by then)."""
    code = (
        "import contextlib, io, json, sys; from tfseg.cli import main\n"
        "exits = []\n"
        f"for argv in {[list(argv) for argv in argvs]!r}:\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            code = main(argv)\n"
        "        except SystemExit as stop:\n"
        "            code = stop.code\n"
        "    exits.append((code, (err.getvalue().strip().splitlines() or [''])[-1]))\n"
        "print(json.dumps([exits, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-1500:]
    exits, modules = json.loads(result.stdout.strip().splitlines()[-1])
    return [tuple(pair) for pair in exits], modules


def finish(process: subprocess.Popen) -> str:
    """Waits for a script, asserts success and returns its stdout."""
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


def nested_encoder_model():
    """A tiny functional model whose first stage is a nested keras.Model named "encoder"."""
    import keras

    encoder_input = keras.Input((8, 8, 1))
    encoder = keras.Model(encoder_input, keras.layers.Conv2D(4, 3, padding="same", name="enc_conv")(encoder_input), name="encoder")
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(encoder(inputs))
    return keras.Model(inputs, outputs)


def conv_models(window=(32, 32), channels=1, classes=1, seed=0):
    """The same two-layer fully convolutional net on a fixed window and on any size."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(classes, 3, padding="same", activation="sigmoid" if classes == 1 else "softmax"),
    ]
    any_size = keras.Input((None, None, channels))
    fixed = keras.Input((*window, channels))
    outputs_any, outputs_fixed = any_size, fixed
    for layer in layers:
        outputs_any, outputs_fixed = layer(outputs_any), layer(outputs_fixed)
    return keras.Model(fixed, outputs_fixed), keras.Model(any_size, outputs_any)


def write_dicom(path, pixels, photometric, spacing=None, window=None):
    """A single-frame 12-bit greyscale DICOM written with pydicom."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    dataset = pydicom.Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID = generate_uid()
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.set_pixel_data(pixels.astype(np.uint16), photometric, 12)
    if spacing:
        dataset.PixelSpacing = list(spacing)
    if window:
        dataset.WindowCenter, dataset.WindowWidth = window
    dataset.save_as(path, enforce_file_format=True)
    return path
