"""Training and inference speed and peak memory of tfseg's models beside a peer library,
measured in one run.

Each row is one model: tfseg's, built and compiled by `tfseg.training.build_model` (the
model, loss, metrics and optimizer train.py trains with) and trained with `Model.fit`,
train.py's step; with `--peer sm` (segmentation_models, Keras) or `--peer smp`
(segmentation_models.pytorch) the same architecture and encoder from the peer is
measured next to it and the row gives tfseg / peer. Every measurement runs in its own
fresh process, so peak memory is that model's alone. A measurement is: warm-up steps
(tracing, compilation), then `--steps` timed training steps on one fixed random batch,
whose median counts (this machine's step times scatter by ±30%: the median of single
steps is steadier than a mean); then inference through `tfseg.inference.predict` (uint8
images in, probabilities out; the peer's model through the same function), timed the
same way. With `--rounds N` each library is measured N times, alternating which goes
first, and its fastest measurement counts.
Peak memory is the process's host RSS high-water mark, and on a GPU the device's peak.
On a GPU, MFU is the model's FLOPs per second (training: 3× the forward pass) over the
device's dense bf16 peak.

segmentation_models gets tfseg's loss, metrics, optimizer and XLA setting, so the ratio
is the models' own, and its own default precision, float32 (`--peer-precision` gives it
another, e.g. the one tfseg resolved); smp trains with its own BCE + Dice (logits) and
Adam, in bf16 autocast when `--peer-precision` is a bfloat16 one (or auto on a GPU).
Inference runs tfseg's model in `--infer-precision` (float32 by default, as predict.py and
evaluate.py do unless their `--precision` says otherwise) and the peer's in float32.

    python benchmarks/models.py                                    # tfseg alone
    SM_FRAMEWORK=tf.keras python benchmarks/models.py --peer sm     # pip install "tfseg[benchmarks]"
    python benchmarks/models.py --peer smp                         # needs torch, timm, segmentation-models-pytorch
    python benchmarks/models.py --pipeline-only                    # the tf.data pipeline alone
    python benchmarks/models.py --intra-op-threads 2 --inter-op-threads 1   # TensorFlow's thread pools

The load average is printed before and after: ratios from a busy machine mean little.
Not a test: numbers depend on the machine and its load. See benchmarks/NOTES.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SM_FRAMEWORK", "tf.keras")

from pipeline import epoch_rate  # noqa: E402  (benchmarks/pipeline.py, beside this script)
from tfseg.options import bool_or_word  # noqa: E402

DEFAULT_MODELS = ["unet", "unetpp", "segnet", "linknet", "unet_resnet34", "unet_effb3", "linknet_effb3"]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lung-cxr"
BF16_PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}
"""Dense bf16 matrix peak per device name (vendor data sheets, SXM parts)."""


# --- one measurement, in its own process ------------------------------------------------


def _median_rate(step, count: int, images: int) -> float:
    """Images/s of the median of `count` timed calls of `step`, each of `images` images."""
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return images / statistics.median(seconds)


def _peak_host_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _keras_forward_flops(model, shape) -> float:
    """FLOPs of one image's forward pass (a multiply-add is 2), from TensorFlow's profiler."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda images: model(images, training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(tf.TensorSpec((1, *shape), tf.float32)))
    options = tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
    options = options.with_empty_output().build()
    return float(tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops)


def peer_equivalent(name: str, peer: str) -> tuple[str, str] | None:
    """(builder, encoder) names of the registered model `name` in the peer library, from
    the registry's `peers`, or None when the peer has no such model."""
    from tfseg.models import entry
    from tfseg.models.encoders import ENCODERS

    model_entry = entry(name)
    builder = model_entry.architecture.peers.get(peer)
    encoder = ENCODERS[model_entry.encoder].peers.get(peer) if model_entry.encoder else None
    return (builder, encoder) if builder and encoder else None


def _sm_model(name: str, shape, classes: int):
    """segmentation_models' equivalent of the registered model `name` (random weights)."""
    import contextlib

    builder, backbone = peer_equivalent(name, "sm")
    with contextlib.redirect_stdout(sys.stderr):  # it prints its framework on import
        import segmentation_models as sm
    activation = "sigmoid" if classes == 1 else "softmax"
    return getattr(sm, builder)(backbone, input_shape=shape, classes=classes, activation=activation, encoder_weights=None)


def measure_keras(library: str, args: argparse.Namespace) -> dict:
    """One model of tfseg or segmentation_models: training and inference rates, memory."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfseg.config import config_from_dict
    from tfseg.distribution import (
        apply_layer_precision, dtype_policy, inference_layers, resolve_inference_precision, resolve_precision,
    )
    from tfseg.inference import predict
    from tfseg.training import build_model, compile_model

    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    shape = (args.size, args.size, 3)
    config = config_from_dict({
        "data": {"image_size": [args.size, args.size], "channels": 3, "classes": args.classes},
        "model": {"name": args.model},
        "train": {"batch_size": args.batch, "precision": args.precision, "jit_compile": args.jit_compile},
    })
    # segmentation_models at its own default precision unless --peer-precision says otherwise
    precision = resolve_precision(args.peer_precision if library == "sm" else config.train.precision)
    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        if library == "sm":
            model = compile_model(apply_layer_precision(_sm_model(args.model, shape, args.classes), precision), config)
        else:
            model = build_model(config)
    rng = np.random.default_rng(0)
    images = rng.random((args.batch, *shape), dtype=np.float32)
    masks = rng.integers(0, 2, (args.batch, args.size, args.size, 1)).astype(np.float32)
    if args.classes > 1:
        masks = np.eye(args.classes, dtype=np.float32)[rng.integers(0, args.classes, (args.batch, args.size, args.size))]
    targets = tuple([masks] * len(model.outputs)) if len(model.outputs) > 1 else masks
    data = tf.data.Dataset.from_tensors((images, targets)).repeat()
    class StepTimes(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    seconds = []
    with dtype_policy(precision):
        model.fit(data, epochs=1, steps_per_epoch=args.warmup, verbose=0)
        model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[StepTimes()])
        train_rate = args.batch / statistics.median(seconds)
        inference_layers(model, args.infer_precision if library == "tfseg" else "float32")  # as prediction loads it
        pictures = [(image * 255).astype(np.uint8) for image in images]
        predict(model, pictures, batch_size=args.batch)
        infer_rate = _median_rate(lambda: predict(model, pictures, batch_size=args.batch), args.steps, args.batch)
    result = {
        "train": train_rate, "infer": infer_rate, "params": model.count_params(), "precision": precision,
        "infer_precision": resolve_inference_precision(args.infer_precision) if library == "tfseg" else "float32",
        "jit_compile": bool(model.jit_compile), "host_mib": _peak_host_mib(),
    }
    if tf.config.list_physical_devices("GPU"):
        result["device_mib"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        result["device"] = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
            "device_name", "GPU")
        result["flops"] = _keras_forward_flops(model, shape)
    return result


def measure_smp(args: argparse.Namespace) -> dict:
    """segmentation_models.pytorch's equivalent: training and inference rates, memory, FLOPs."""
    import segmentation_models_pytorch as smp
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    builder, encoder = peer_equivalent(args.model, "smp")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = getattr(smp, builder)(encoder, encoder_weights=None, in_channels=3, classes=args.classes)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    mode = "binary" if args.classes == 1 else "multiclass"
    dice = smp.losses.DiceLoss(mode, from_logits=True)
    cross_entropy = torch.nn.BCEWithLogitsLoss() if args.classes == 1 else torch.nn.CrossEntropyLoss()
    images = torch.rand(args.batch, 3, args.size, args.size, device=device).to(memory_format=torch.channels_last)
    masks = torch.randint(0, 2, (args.batch, 1, args.size, args.size), device=device).float()
    if args.classes > 1:
        masks = torch.randint(0, args.classes, (args.batch, args.size, args.size), device=device)
    bf16 = "bfloat16" in args.peer_precision or (args.peer_precision == "auto" and device == "cuda")
    autocast = lambda: torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)  # noqa: E731
    synchronise = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            logits = model(images)
            loss = cross_entropy(logits, masks) + dice(logits, masks)
        loss.backward()
        optimizer.step()
        synchronise()

    def infer() -> None:
        with torch.no_grad(), autocast():
            torch.sigmoid(model(images)).float().cpu().numpy()

    model.train()
    for _ in range(args.warmup):
        train_step()
    train_rate = _median_rate(train_step, args.steps, args.batch)
    model.eval()
    infer()
    infer_rate = _median_rate(infer, args.steps, args.batch)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(images[:1])
    result = {
        "train": train_rate, "infer": infer_rate, "host_mib": _peak_host_mib(),
        "params": sum(parameter.numel() for parameter in model.parameters()),
        "precision": "bf16 autocast" if bf16 else "float32", "jit_compile": False,
        "flops": float(counter.get_total_flops()),
    }
    if device == "cuda":
        result["device_mib"] = torch.cuda.max_memory_allocated() / 2**20
        result["device"] = torch.cuda.get_device_name()
    return result


# --- the driver --------------------------------------------------------------------------


def run_measurement(library: str, model: str, args: argparse.Namespace) -> dict:
    """Runs one measurement in a fresh process and returns its result (or {"error": ...})."""
    command = [sys.executable, __file__, "--measure", library, "--models", model, *_shared_flags(args)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {last[:200]}"}
    return json.loads(lines[-1])


def _shared_flags(args: argparse.Namespace) -> list[str]:
    return ["--batch", str(args.batch), "--size", str(args.size), "--classes", str(args.classes),
            "--precision", args.precision, "--peer-precision", args.peer_precision, "--infer-precision", args.infer_precision,
            "--jit-compile", str(args.jit_compile).lower(),
            "--warmup", str(args.warmup), "--intra-op-threads", str(args.intra_op_threads),
            "--inter-op-threads", str(args.inter_op_threads),
            "--steps", str(args.steps), "--rounds", str(args.rounds)]


def pipeline_rate(args: argparse.Namespace) -> float:
    """Images/s of the training tf.data pipeline alone (decode, augment, batch) on `--data`,
    best of `--rounds` passes after a warm-up pass."""
    from tfseg.config import DataConfig
    from tfseg.data import load_table, make_dataset, split_rows

    data = DataConfig(dir=str(args.data), image_size=[args.size, args.size], channels=3, classes=1, mask_threshold=127,
                      augment=args.augment)
    rows = split_rows(load_table(data, seed=0), "train")
    dataset = make_dataset(rows, data, args.batch, training=True, seed=0)
    return max([epoch_rate(dataset) for _ in range(args.rounds + 1)][1:])


def _ratio(ours: dict, peer: dict | None, key: str, invert: bool = False) -> str:
    if not peer or key not in peer or key not in ours:
        return "—"
    value = peer[key] / ours[key] if invert else ours[key] / peer[key]
    return f"{value:.2f}×"


def _mfu(result: dict, key: str, device: str | None) -> str:
    peak = next((flops for name, flops in BF16_PEAK_FLOPS.items() if device and name in device), None)
    if not peak or "flops" not in result:
        return "—"
    factor = 3 if key == "train" else 1  # forward + backward ≈ 3 forward passes
    return f"{result['flops'] * factor * result[key] / peak:.1%}"


def table_columns(peer: str | None, gpu: bool) -> list[str]:
    """The columns of the Markdown table: tfseg's, then the peer's and the ratios."""
    memory = "peak device MiB" if gpu else "peak host MiB"
    columns = ["model", "precision (train / infer), XLA", "train img/s", "infer img/s", memory] + (["train MFU"] if gpu else [])
    if peer:
        columns += [f"{peer} precision", f"{peer} train img/s", f"{peer} infer img/s", f"{peer} {memory}"]
        columns += [f"{peer} train MFU"] if gpu else []
        columns += ["train ×", "infer ×", "memory ×"]
    return columns


def table_row(name: str, ours: dict, theirs: dict | None, peer: str | None, gpu: bool) -> str:
    """One model's row: its rates and memory, the peer's, and tfseg / peer."""
    columns = table_columns(peer, gpu)
    if "error" in ours:
        return "| " + " | ".join([f"`{name}`", ours["error"]] + ["—"] * (len(columns) - 2)) + " |"
    memory = "device_mib" if gpu else "host_mib"
    cells = [f"`{name}`", f"{ours['precision']} / {ours['infer_precision']}, {'XLA' if ours['jit_compile'] else 'no XLA'}",
             f"{ours['train']:.2f}", f"{ours['infer']:.2f}", f"{ours[memory]:,.0f}"]
    cells += [_mfu(ours, "train", ours.get("device"))] if gpu else []
    if peer and (theirs is None or "error" in theirs):
        cells += [(theirs or {}).get("error", "no equivalent")] + ["—"] * (len(columns) - len(cells) - 1)
    elif peer:
        cells += [theirs["precision"], f"{theirs['train']:.2f}", f"{theirs['infer']:.2f}", f"{theirs[memory]:,.0f}"]
        cells += [_mfu(theirs, "train", theirs.get("device"))] if gpu else []
        cells += [_ratio(ours, theirs, "train"), _ratio(ours, theirs, "infer"), _ratio(ours, theirs, memory)]
    return "| " + " | ".join(cells) + " |"


def _versions(peer: str | None) -> str:
    import keras
    import tensorflow as tf

    text = f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    if peer == "sm":
        text += f", segmentation_models {_package_version('segmentation-models')}, efficientnet {_package_version('efficientnet')}"
    if peer == "smp":
        text += (f", segmentation_models.pytorch {_package_version('segmentation-models-pytorch')}, "
                 f"torch {_package_version('torch')}")
    return text


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME")
    parser.add_argument("--peer", choices=("sm", "smp"), help="measure this library's equivalent model too")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256, help="image height and width (default 256)")
    parser.add_argument("--classes", type=int, default=1, help="1: binary (sigmoid) head; K: softmax over K")
    parser.add_argument("--precision", default="auto", help="tfseg's train.precision (default auto)")
    parser.add_argument("--peer-precision", default="float32",
                        help="the peer's precision: float32 (its default; default), or a tfseg precision to match")
    parser.add_argument("--infer-precision", default="float32", choices=("float32", "mixed_bfloat16_convs", "auto"),
                        help="what tfseg's model predicts in (predict.py / evaluate.py --precision; default float32, "
                             "their default); the peer predicts in float32")
    parser.add_argument("--jit-compile", default="auto", type=bool_or_word, help="train.jit_compile (auto, true, false)")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="TensorFlow's intra-op threads (0: its choice)")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="TensorFlow's inter-op threads (0: its choice)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first (tracing, XLA)")
    parser.add_argument("--steps", type=int, default=10, help="timed training and inference steps; the median counts")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measurements of each model and library, alternating; the fastest counts")
    parser.add_argument("--pipeline-only", action="store_true", help="only the tf.data pipeline's images/s")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder for the pipeline rate")
    parser.add_argument("--augment", default="medium", help="augmentation preset for the pipeline rate")
    parser.add_argument("--measure", choices=("tfseg", "sm", "smp"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:  # a child process: one model, one library, one JSON line
        args.model = args.models[0]
        result = measure_smp(args) if args.measure == "smp" else measure_keras(args.measure, args)
        print(json.dumps(result))
        return

    print(f"{_versions(args.peer)}; {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f} at start")
    print(f"{args.size}x{args.size}x3, {args.classes} class(es), batch {args.batch}; precision {args.precision}, "
          f"jit_compile {args.jit_compile}; inference {args.infer_precision}; {args.warmup} warm-up steps, then the median of {args.steps} timed steps; "
          f"best of {args.rounds} round(s)\n")
    pipeline = None
    if args.data.is_dir():
        pipeline = pipeline_rate(args)
        print(f"tf.data pipeline alone ({args.data.name}, augment {args.augment}, batch {args.batch}): "
              f"{pipeline:,.0f} img/s\n")
    elif args.pipeline_only:
        sys.exit(f"benchmarks/models.py: --data {args.data} is not a folder (expected a dataset with images/ and masks/)")
    if args.pipeline_only:
        return
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    columns = table_columns(args.peer, gpu)
    print("| " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * (len(columns) - 2), flush=True)
    rates = []
    for name in args.models:
        libraries = ["tfseg", args.peer] if args.peer else ["tfseg"]
        if args.peer and peer_equivalent(name, args.peer) is None:
            libraries = ["tfseg"]
        results = {}
        for round_index in range(args.rounds):  # alternate who goes first: neither always meets a cooler machine
            for library in libraries[:: 1 if round_index % 2 == 0 else -1]:
                result = run_measurement(library, name, args)
                if result.get("train", 0) >= results.get(library, {}).get("train", 0):
                    results[library] = result
        print(table_row(name, results["tfseg"], results.get(args.peer), args.peer, gpu), flush=True)
        rates += [results["tfseg"]["train"]] if "train" in results["tfseg"] else []
    slowest = min(rates, default=None)
    if pipeline and slowest:
        print(f"\nthe pipeline alone delivers {pipeline / slowest:.1f}× the slowest training rate above")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
