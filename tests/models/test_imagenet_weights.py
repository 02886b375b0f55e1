"""The encoders' ImageNet weights files (tfseg.models.imagenet_weights) and `tfseg weights`.

Every test points Keras' cache at a temporary folder (KERAS_HOME) and downloads from a
folder mirror, so nothing reaches the network and the real cache is never touched. The
published files cannot be had here, so the hash checks run on stand-in files: a file whose
hash is not the published one is refused, and the success path checks a hash by putting the
stand-in's own hash into the encoder's entry (only the expected-hash table is changed, the
download is real).
"""

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfseg.cli import main
from tfseg.models.encoders import ENCODERS, imagenet_file
from tfseg.models.imagenet_weights import MIRROR_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
ALL_FILES = sum(len(spec.imagenet_files) for spec in ENCODERS.values())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Keras cache (KERAS_HOME) and an empty mirror folder ($TFSEG_WEIGHTS_MIRROR): no network."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv(MIRROR_VARIABLE, str(mirror))
    return tmp_path / "keras" / "models"


def _expect_hash(monkeypatch, encoder, content: bytes):
    """Puts the MD5 of `content` as `encoder`'s published hash (its only file)."""
    spec = ENCODERS[encoder]
    (file,) = spec.imagenet_files
    file = dataclasses.replace(file, file_hash=hashlib.md5(content).hexdigest())
    monkeypatch.setitem(ENCODERS, encoder, dataclasses.replace(spec, imagenet_files=(file,)))
    return file


def _rows(out: str) -> dict[str, list[str]]:
    """`tfseg weights list` rows by encoder (with its input size, if any): [file, cached, url]."""
    rows = {}
    for line in out.splitlines()[2:]:
        encoder, *row = re.split(" {2,}", line)
        rows[encoder] = row
    return rows


def test_list_on_an_empty_and_a_filled_cache(cache, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"tfseg: weights cache {cache} (set KERAS_HOME to move it): 0 of {ALL_FILES} files cached\n")
    rows = _rows(out)
    assert len(rows) == ALL_FILES and {row[1] for row in rows.values()} == {"no"}
    assert rows["resnet34"] == ["resnet34-b627a593.pth", "no", "https://download.pytorch.org/models/resnet34-b627a593.pth"]
    assert rows["mobilenetv2 (96×96)"][0] == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"

    cache.mkdir(parents=True)
    with open(cache / "resnet34-b627a593.pth", "wb") as file:
        file.truncate(2_500_000)
    assert main(["weights", "list", "resnet34", "effb0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"tfseg: weights cache {cache} (set KERAS_HOME to move it): 1 of 2 files cached\n")
    rows = _rows(out)
    assert rows["resnet34"][1] == "2.5 MB"
    assert rows["effb0"] == [
        "efficientnetb0_notop.h5", "no", "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"
    ]


def test_download_from_a_folder_mirror_checks_the_hash(cache, tmp_path, monkeypatch, capsys):
    mirror = tmp_path / "site-mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    # MobileNetV2: one file per input size, no published hash
    mobilenet = {file.name: rng.bytes(3000) for file in ENCODERS["mobilenetv2"].imagenet_files}
    for name, content in mobilenet.items():
        (mirror / name).write_bytes(content)
    # ResNet50: the stand-in's MD5 as the published one
    resnet50 = rng.bytes(5000)
    file = _expect_hash(monkeypatch, "resnet50", resnet50)
    (mirror / file.name).write_bytes(resnet50)

    assert main(["weights", "download", "mobilenetv2", "resnet50", "--mirror", str(mirror)]) == 0
    out = capsys.readouterr().out
    assert f"tfseg: resnet50: downloading {(mirror / file.name).as_uri()}" in out
    assert f"tfseg: resnet50: {cache / file.name} (0.0 MB, hash checked)" in out
    assert out.count("no published hash to check") == 5
    assert (cache / file.name).read_bytes() == resnet50
    assert all((cache / name).read_bytes() == content for name, content in mobilenet.items())
    assert sorted(path.name for path in cache.iterdir()) == sorted([*mobilenet, file.name])

    # cached files are not downloaded again; `list` shows them
    assert main(["weights", "download", "resnet50"]) == 0  # the empty $TFSEG_WEIGHTS_MIRROR is not read
    assert capsys.readouterr().out == f"tfseg: resnet50: {cache / file.name} is cached (0.0 MB)\n"
    assert main(["weights", "list", "mobilenetv2", "resnet50"]) == 0
    assert {row[1] for row in _rows(capsys.readouterr().out).values()} == {"0.0 MB"}


def test_download_of_a_file_with_the_wrong_hash_is_one_line_error(cache, tmp_path, monkeypatch, capsys):
    """A stand-in for torchvision's resnet18 file, served by a file:// mirror ($TFSEG_WEIGHTS_MIRROR)."""
    mirror = tmp_path / "served"
    mirror.mkdir()
    (mirror / "resnet18-f37072fd.pth").write_bytes(b"not the published weights")
    monkeypatch.setenv(MIRROR_VARIABLE, mirror.as_uri() + "/")
    assert main(["weights", "download", "resnet18"]) == 2
    error = capsys.readouterr().err.strip()
    digest = hashlib.sha256(b"not the published weights").hexdigest()
    assert error == (
        f"error: resnet18-f37072fd.pth: {(mirror / 'resnet18-f37072fd.pth').as_uri()} has sha256 {digest} where "
        f"f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec was published (a corrupt or wrong file; "
        f"not cached)"
    )
    assert list(cache.iterdir()) == []  # neither the file nor a partial one

    assert main(["weights", "download", "resnet18", "--mirror", str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: weights mirror {str(tmp_path / 'absent')!r} ({MIRROR_VARIABLE} or --mirror): "
        f"expected a URL or a folder"
    )
    assert main(["weights", "download", "resnet81"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown encoder 'resnet81'; did you mean resnet18")


def test_offline_imagenet_training_says_which_file_to_put_where(cache, tiny_dataset, tmp_path, capsys):
    """No file in the cache and none on the mirror: the download really fails (file://)."""
    run_dir = tmp_path / "run"
    code = main(["train", "--model", "unet_resnet34", "--encoder-weights", "imagenet", "--data", str(tiny_dataset),
                 "--image-size", "32", "32", "--epochs", "1", "--no-plan", "--run-dir", str(run_dir)])
    assert code == 2
    stderr = capsys.readouterr().err
    url = "https://download.pytorch.org/models/resnet34-b627a593.pth"
    mirrored = Path(os.environ[MIRROR_VARIABLE]) / "resnet34-b627a593.pth"
    assert stderr.strip().splitlines() == [
        f"error: resnet34: ImageNet weights not cached and cannot be downloaded ({mirrored.as_uri()}: [Errno 2] No such "
        f"file or directory: '{mirrored}'); on a machine with internet run 'tfseg weights download resnet34', or put "
        f"{url} at {cache / 'resnet34-b627a593.pth'}"
    ]
    assert not run_dir.exists()


@pytest.mark.slow
def test_training_reads_the_cached_file_offline(cache, tiny_dataset, tmp_path, monkeypatch):
    """A torchvision-format resnet18 file in the cache (its SHA-256 as the published one):
    training with --encoder-weights imagenet loads it without any download."""
    import keras

    from tests.models.test_backbones_resnet import random_state
    from tfseg.models.backbones.torch_checkpoint import write_state_dict

    state = random_state(18, seed=2)
    cache.mkdir(parents=True)
    path = cache / "resnet18-f37072fd.pth"
    write_state_dict(path, state)
    spec = ENCODERS["resnet18"]
    file = dataclasses.replace(spec.imagenet_files[0], file_hash=hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setitem(ENCODERS, "resnet18", dataclasses.replace(spec, imagenet_files=(file,)))
    run_dir = tmp_path / "run"
    assert main(["train", "--model", "unet_resnet18", "--encoder-weights", "imagenet", "--encoder-freeze",
                 "--data", str(tiny_dataset), "--image-size", "32", "32", "--epochs", "1", "--batch-size", "8", "--no-plan",
                 "--run-dir", str(run_dir)]) == 0
    encoder = keras.saving.load_model(run_dir / "best.keras", compile=False).get_layer("encoder")
    np.testing.assert_array_equal(
        encoder.get_layer("layer4.1.conv2").kernel.numpy(), state["layer4.1.conv2.weight"].transpose(2, 3, 1, 0)
    )
    assert list(cache.iterdir()) == [path]


def test_mobilenetv2_file_follows_the_input_size_as_keras_does():
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{}_no_top.h5"
    assert imagenet_file("mobilenetv2", (128, 128, 3)).name == name.format(128)
    assert imagenet_file("mobilenetv2", (128, 96, 3)).name == name.format(224)
    assert imagenet_file("mobilenetv2", (256, 256, 3)).name == name.format(224)
    assert imagenet_file("effb0", (128, 128, 3)).name == "efficientnetb0_notop.h5"


# One encoder per keras.applications module (the file names, URLs and hashes of a module
# follow one pattern), and MobileNetV2 at a size with its own file and at any other size.
KERAS_CASES = [("resnet50", 64), ("resnet50v2", 64), ("effb0", 64), ("effv2b0", 64), ("effv2s", 64),
               ("mobilenetv2", 96), ("mobilenetv2", 64), ("mobilenetv3small", 64), ("convnext_tiny", 64),
               ("densenet121", 64), ("vgg16", 64), ("vgg19", 64)]


@pytest.mark.slow
def test_files_are_the_ones_keras_applications_asks_for(tmp_path):
    """keras.applications itself, with weights="imagenet", in a fresh Python whose Keras cache
    holds a stand-in under each file's name and whose downloads go to a closed port: Keras
    finds the stand-in (same name), says its hash differs from the one it expects (same hash)
    and tries to download it again from its URL (same URL). MobileNetV2 publishes no hash:
    Keras loads the stand-in (and fails) without a download; without it, it downloads."""
    script = tmp_path / "ask_keras.py"
    script.write_text(textwrap.dedent(f"""
        import contextlib, io, json, os, sys
        from pathlib import Path
        from tfseg.models.encoders import ENCODERS, imagenet_file
        cache = Path(os.environ["KERAS_HOME"]) / "models"
        cache.mkdir(parents=True)
        results = []
        for encoder, size in {KERAS_CASES!r}:
            file = imagenet_file(encoder, (size, size, 3))
            said = []
            for stand_in in (True, False) if file.file_hash is None else (True,):
                (cache / file.name).write_bytes(b"stand-in") if stand_in else (cache / file.name).unlink()
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    try:
                        ENCODERS[encoder].backbone((size, size, 3), "imagenet")
                    except Exception as error:
                        print(error)
                said.append(out.getvalue())
            results.append([encoder, size, said])
        print(json.dumps(results))
    """))
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "PYTHONPATH": str(ROOT),
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for encoder, size, said in json.loads(result.stdout.splitlines()[-1]):
        file = imagenet_file(encoder, (size, size, 3))
        if file.file_hash:  # Keras found the stand-in, refused its hash, and downloads (and removes the stand-in)
            (with_stand_in,) = said
            assert f"does not match the original value of {file.file_hash}" in with_stand_in, (encoder, with_stand_in)
            assert f"Downloading data from {file.url}\n" in with_stand_in, (encoder, with_stand_in)
        else:  # Keras loaded the stand-in; without it, it downloads
            with_stand_in, without = said
            assert "Downloading" not in with_stand_in, (encoder, with_stand_in)
            assert f"Downloading data from {file.url}\n" in without, (encoder, without)
