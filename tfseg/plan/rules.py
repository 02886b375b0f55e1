"""The rules of a training plan, run in the order of `RULES`.

Each rule is a small function `rule(fingerprint, planned, budget)` of the dataset's
fingerprint (`tfseg.data.fingerprint`), what the rules before it chose and the user set
(`planned`, dotted key → value) and the budget (time and machine). It returns
`(settings, reason)`: the dotted keys it sets and one line saying why. Its `keys` (set by
`decides`) name what it decides: a rule whose keys the user all set does not run.
docs/planning.md gives the evidence behind each number here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from tfseg.config import Config, apply_overrides, config_from_dict
from tfseg.data.fingerprint import RESIZE_TARGETS
from tfseg.plan.machine import Machine, StepTiming
from tfseg.text import format_duration
from tfseg.transforms import PIXEL_TRANSFORMS, PRESETS, parse_transforms

Decision = tuple[dict[str, Any], str]
"""What a rule returns: {dotted key: value} and its one-line reason."""

SURVIVAL_LIMIT = 0.01
"""A resize keeps a class's objects when at most this share of them vanish, merge or split."""
MIN_WIDTH = 16
"""... and its objects' 10th-percentile width stays at least this many pixels (JSRT clavicles at
3.6 px lost 0.061 IoU, lung fields at 15 px 0.005, PH2 lesions at 18 px nothing; RESULTS.md)."""
PATCH_SIZES = (512, 384, 256, 192, 128, 96, 64)
"""Square patch sides tried, largest first, when no affordable resize keeps the objects."""
MIN_SAMPLES = 5000
"""Training samples (images or patches) the budget must afford at a size for the size to be
affordable: RESULTS.md's best recipes saw 5,600 (PH2), 10,400 (JSRT) and 14,800 (lung)."""
PIXELS_PER_SECOND = {"cpu": 400_000, "gpu": 50_000_000}
"""Prior training throughput of the planned U-Net, input pixels per second per CPU core or per
GPU, to price sizes before the timing (docs/speed.md: 14 images of 256x256 per second on 2 cores);
the epochs come from a measured step time."""
BYTES_PER_PIXEL = 4096
"""Training memory per input pixel of the U-Net (activations kept for the backward pass and
their gradients; docs/speed.md measured about 3.5 KiB per pixel in all, on a CPU)."""
MEMORY_SHARE = {"cpu": 0.25, "gpu": 0.5}
"""Share of a device's memory a batch may take (a CPU's RAM is shared with the pipeline and others)."""
CPU_PIXELS_PER_BATCH = 8 * 256 * 256
"""A CPU's batch, in input pixels: time, not memory, bounds it (RESULTS.md trained 8 x 256x256)."""
BATCH_SHARE = 0.05
"""nnU-Net's cap: one batch covers at most 5% of the training set's pixels."""
MIN_BATCH = 2
BOTTLENECK = (4, 8)
"""The U-Net pools until the shorter side of its bottleneck is within this range (nnU-Net)."""
DEPTHS = (2, 6)
"""Depths planned: at 6 the bottleneck has 1024 filters (16 doubled six times)."""
FOREGROUND_CROPS = 0.33
"""nnU-Net's share of patches forced onto foreground."""
RARE_FOREGROUND = 0.5
"""Foreground oversampling when a uniform patch holds some class less often than this."""
RARE_CLASS = 0.01
"""A class covering less than this share of the pixels gets a larger cross-entropy weight ..."""
MAX_CLASS_WEIGHT = 10.0
"""... of sqrt(background share / class share), at most this."""
SMALL_DATASET = 100
"""Grey datasets with fewer training images get `medium` augmentation, larger ones `light`."""
STEPS_PER_EPOCH = 250
MIN_EPOCHS = 5
"""Fewer epochs than this fit the budget: the epochs are shortened instead (best.keras needs epochs to pick from)."""
RESERVED_SHARE = 0.1
"""Share of the budget kept for what follows training: the export and its checks, evaluation."""


def decides(*keys: str) -> Callable:
    """Marks a rule with the dotted keys it decides (`rule.keys`)."""

    def mark(rule: Callable) -> Callable:
        rule.keys = keys
        return rule

    return mark


@dataclass(frozen=True)
class Budget:
    """What the plan may spend: `seconds` of training on `machine`; `time_steps(config)` times
    real training steps of a config there (`tfseg.plan.time_training_steps`)."""

    seconds: float
    machine: Machine
    time_steps: Callable[[Config], StepTiming]


def _median_size(fingerprint: dict) -> tuple[int, int]:
    """(height, width) of the median image."""
    images = fingerprint["images"]
    return int(images["height"]["median"]), int(images["width"]["median"])


def _classes_with_objects(fingerprint: dict) -> list[dict]:
    return [entry for entry in fingerprint["classes"] if entry["objects"]]


def _class_name(entry: dict) -> str:
    return f"class {entry['label']}" + (f" ({entry['name']})" if entry["name"] else "")


def unet_depth(side: int) -> int:
    """The fewest poolings (within DEPTHS) that bring `side` pixels to at most BOTTLENECK[1]."""
    depth = math.ceil(math.log2(max(side, 1) / BOTTLENECK[1])) if side > BOTTLENECK[1] else 0
    return min(max(depth, DEPTHS[0]), DEPTHS[1])


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


ENCODER_STRIDE = 32
"""The output stride of every model but the plain U-Net: their inputs are multiples of it."""


def model_stride(model_name: str, side: int) -> int:
    """What the sides of `model_name`'s input must be multiples of: 2**depth for the U-Net at the
    depth planned for a shorter side of `side`, else ENCODER_STRIDE."""
    return 2 ** unet_depth(side) if model_name == "unet" else ENCODER_STRIDE


def model_input(height: int, width: int, longer: int, model_name: str = "unet") -> tuple[int, int]:
    """(height, width) of an image resized so its longer side is about `longer`, the aspect ratio
    kept, each side rounded to a multiple of the model's stride (`model_stride`)."""
    scale = longer / max(height, width)
    stride = model_stride(model_name, round(min(height, width) * scale))
    return _round_to(height * scale, stride), _round_to(width * scale, stride)


def _pixels_per_second(machine: Machine) -> float:
    """The prior training throughput of `machine` (PIXELS_PER_SECOND per core or GPU)."""
    return PIXELS_PER_SECOND[machine.device] * (machine.cores if machine.device == "cpu" else machine.devices)


def _affordable_pixels(budget: Budget) -> tuple[int, str]:
    """The most input pixels per sample that the budget affords MIN_SAMPLES of and that a batch of
    MIN_BATCH fits in memory, and which of the two bounds it ("the budget" or "memory")."""
    machine = budget.machine
    by_time = budget.seconds * (1 - RESERVED_SHARE) * _pixels_per_second(machine) / MIN_SAMPLES
    by_memory = machine.memory_bytes * MEMORY_SHARE[machine.device] / (MIN_BATCH * BYTES_PER_PIXEL)
    return (int(by_time), "the budget") if by_time <= by_memory else (int(by_memory), "memory")


def _resize_problem(fingerprint: dict, longer: int, native: int) -> str | None:
    """Why resizing to a longer side of `longer` loses objects, or None when it keeps them."""
    if longer >= native:
        return None
    for entry in _classes_with_objects(fingerprint):
        resized = {one["size"]: one for one in entry["resize"]}.get(longer)
        if resized:
            for what in ("vanished", "merged", "split"):
                if resized[what] > SURVIVAL_LIMIT:
                    return f"{resized[what]:.1%} of {_class_name(entry)} objects {what} at {longer}"
        width = entry["width_px"]["percentile_10"] * longer / native
        if width < MIN_WIDTH:
            return f"{_class_name(entry)} objects are {width:.1f} px wide at {longer} (10th percentile; below {MIN_WIDTH})"
    return None


@decides("data.channels", "data.classes")
def channels_and_classes(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """Input channels and classes as the fingerprint read the data (`tfseg.data.settle_data`
    decides them from the images and classes.txt unless the user set them)."""
    channels, classes = fingerprint["options"]["data.channels"], fingerprint["options"]["data.classes"]
    colour = sum(count for bands, count in fingerprint["images"]["stored_channels"].items() if bands in ("3", "4"))
    names = fingerprint["masks"]["class_names"]
    images = fingerprint["images"]["count"]
    channels_text = f"{colour} of {images} images stored in colour" if colour else "every image stored grey"
    classes_text = (f"label maps 0..{classes - 1}" if classes > 1 else f"binary masks ({fingerprint['masks']['encoding']})")
    return ({"data.channels": channels, "data.classes": classes},
            f"{channels_text}: {channels} channel(s); {classes_text}" + (f" ({', '.join(names)})" if names else ""))


@decides("data.normalize")
def normalization(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """`scale` to [0, 1] for 8-bit images that use their range; `zscore` per image for 16-bit or float
    images, and for 8-bit images that use less than a quarter of it."""
    depths = set(fingerprint["images"]["bit_depth"])
    used = max(one["all"]["percentile_99_5"] - one["all"]["percentile_00_5"]
               for one in fingerprint["intensity"]["channels"])
    zscore = "per-image z-score (nnU-Net's for non-CT images)"
    if depths == {"8"}:
        if used >= 255 / 4:
            return {"data.normalize": "scale"}, f"8-bit images using {used:g} of 255 levels (0.5-99.5th percentile): scale to [0, 1]"
        return {"data.normalize": "zscore"}, f"8-bit images using only {used:g} of 255 levels: {zscore} spreads them"
    if "float" in depths:
        return {"data.normalize": "zscore"}, f"floating-point images: {zscore}"
    return {"data.normalize": "zscore"}, (
        f"16-bit images using {used:g} levels (0.5-99.5th percentile): dividing by 65535 would squeeze them into "
        f"[0, {used / 65535:.2g}]; {zscore}")


@decides("data.image_size", "data.crop")
def geometry(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """The smallest resize (aspect kept) that keeps every class's objects, when affordable; else
    patches at native resolution, as large as the budget and memory afford, validated and
    predicted by sliding window."""
    height, width = _median_size(fingerprint)
    native = max(height, width)
    candidates = [size for size in RESIZE_TARGETS if size < native] + [native]
    loss_below = None
    for longer in candidates:
        problem = _resize_problem(fingerprint, longer, native)
        if problem is None:
            break
        loss_below = problem
    model_name = planned.get("model.name", "unet")
    size = model_input(height, width, longer, model_name)
    why = f"one size smaller, {loss_below}" if loss_below else "the smallest size tried, and it keeps the objects"
    limit, bound = _affordable_pixels(budget)
    if size[0] * size[1] <= limit:
        where = "native resolution" if longer == native else f"longer side {longer} of {native}"
        seconds = MIN_SAMPLES * size[0] * size[1] / _pixels_per_second(budget.machine)
        return {"data.image_size": list(size)}, (
            f"resize to {size[0]}x{size[1]} ({where}, aspect kept, a multiple of {model_stride(model_name, min(size))}): "
            f"{why}; {MIN_SAMPLES} samples take about {format_duration(seconds)}")
    shorter = max(min(height, width), PATCH_SIZES[-1])
    patch = next((side for side in PATCH_SIZES if side * side <= limit and side <= shorter), PATCH_SIZES[-1])
    return {"data.crop": patch, "data.image_size": [patch, patch]}, (
        f"patches of {patch}x{patch} at native resolution ({height}x{width} images), validated and predicted by "
        f"sliding window: resizing keeps the objects only at {size[0]}x{size[1]} ({why}), and {bound} affords "
        f"{MIN_SAMPLES} samples of at most {math.isqrt(limit)}x{math.isqrt(limit)}")


@decides("model.name")
def model(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """U-Net, as nnU-Net: the studies found nothing better from scratch."""
    return {"model.name": "unet"}, (
        "nnU-Net's architecture; in RESULTS.md encoder models trained from scratch did not beat it (lung -0.0001 to "
        "-0.0036 IoU, JSRT FPN/DeepLabV3+ -0.02 to -0.03) and U-Net++ gained at most 0.005 for 3x the time")


@decides("model.options.depth")
def depth(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """U-Net depth: the fewest poolings that bring the input's shorter side to 4-8 px; other
    models keep their own."""
    height, width = planned["data.image_size"]
    if planned.get("model.name", "unet") != "unet":
        return {}, f"{planned['model.name']} keeps its own depth"
    levels = unet_depth(min(height, width))
    return {"model.options.depth": levels}, (
        f"{levels} poolings: a bottleneck of {height // 2 ** levels}x{width // 2 ** levels} px (nnU-Net pools to 4-8 px)"
        + (f"; capped at {DEPTHS[1]}" if levels == DEPTHS[1] and min(height, width) // 2 ** levels > BOTTLENECK[1] else ""))


@decides("train.batch_size")
def batch_size(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """Batch size from the device's pixel budget, at most nnU-Net's 5% of the training set, at least 2."""
    machine = budget.machine
    height, width = planned["data.image_size"]
    pixels = height * width
    if machine.device == "cpu":
        device_pixels = min(CPU_PIXELS_PER_BATCH, machine.memory_bytes * MEMORY_SHARE["cpu"] / BYTES_PER_PIXEL)
        device_text = f"a CPU batch of at most {CPU_PIXELS_PER_BATCH // 2**16}x256x256 px (time-bound)"
    else:
        device_pixels = machine.memory_bytes * MEMORY_SHARE["gpu"] / BYTES_PER_PIXEL
        device_text = (f"{MEMORY_SHARE['gpu']:.0%} of {machine.memory_bytes / 2**30:.0f} GiB at "
                       f"{BYTES_PER_PIXEL // 1024} KiB per pixel")
    by_device = int(device_pixels // pixels) * machine.devices
    train_images = fingerprint["images"]["splits"]["train"]
    native_pixels = _median_size(fingerprint)[0] * _median_size(fingerprint)[1]
    dataset_pixels = train_images * (native_pixels if planned.get("data.crop") else pixels)
    by_dataset = int(BATCH_SHARE * dataset_pixels // pixels)
    size = max(MIN_BATCH, min(by_device, by_dataset))
    return {"train.batch_size": size}, (
        f"{device_text}: {by_device}; {BATCH_SHARE:.0%} of the {train_images} training images' pixels (nnU-Net): "
        f"{by_dataset}; at least {MIN_BATCH}")


def _uniform_patch_share(fingerprint: dict, entry: dict, patch: int) -> float:
    """About how often a uniform patch of `patch` px holds part of an object of the class."""
    height, width = _median_size(fingerprint)
    side = math.sqrt(entry["object_size"]["pixels"]["median"])
    hit = min(1.0, (patch + side) / height) * min(1.0, (patch + side) / width)
    objects = entry["objects_per_image"]["median"]
    return entry["images_with_class"] / fingerprint["images"]["count"] * (1 - (1 - hit) ** objects)


@decides("data.foreground_crops")
def foreground_crops(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """nnU-Net's third of patches centred on foreground, when patches are used and a uniform patch
    often misses a class."""
    patch = planned.get("data.crop", 0)
    if not patch:
        return {}, "images are resized whole, not cropped"
    shares = {_class_name(entry): _uniform_patch_share(fingerprint, entry, patch)
              for entry in _classes_with_objects(fingerprint)}
    rarest = min(shares, key=shares.get)
    if shares[rarest] < RARE_FOREGROUND:
        return {"data.foreground_crops": FOREGROUND_CROPS}, (
            f"a uniform {patch}x{patch} patch holds {rarest} about {shares[rarest]:.0%} of the time: "
            f"{FOREGROUND_CROPS:.0%} of patches centred on foreground (nnU-Net)")
    return {"data.foreground_crops": 0.0}, (
        f"a uniform {patch}x{patch} patch holds {rarest} about {shares[rarest]:.0%} of the time: uniform patches")


@decides("train.steps_per_epoch")
def epoch_length(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """An epoch is a number of steps (nnU-Net's 250), not a pass over the images."""
    return {"train.steps_per_epoch": STEPS_PER_EPOCH}, (
        f"nnU-Net's {STEPS_PER_EPOCH} steps, whatever the number of images or patches")


@decides("data.augment")
def augmentation(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """`medium` for colour images and small grey datasets, `light` for larger grey ones; only the
    geometric transforms of the preset when images are z-scored."""
    train_images = fingerprint["images"]["splits"]["train"]
    if planned["data.channels"] == 3:
        preset, why = "medium", "colour images (PH2's best recipe: medium)"
    elif train_images < SMALL_DATASET:
        preset, why = "medium", f"{train_images} grey training images, fewer than {SMALL_DATASET}"
    else:
        preset, why = "light", (f"{train_images} grey training images (JSRT and lung recipes: light; "
                                "on lung medium +0.0015, heavy -0.002 IoU)")
    if planned["data.normalize"] == "scale":
        return {"data.augment": preset}, why
    geometric = [entry for entry, transform in zip(PRESETS[preset], parse_transforms(preset))
                 if transform.name not in PIXEL_TRANSFORMS]
    return {"data.augment": geometric}, f"{why}; the geometric transforms of {preset} (z-scored input)"


def _class_weights(shares: list[float]) -> list[float]:
    """sqrt(background share / class share), capped at MAX_CLASS_WEIGHT, 2 significant digits."""
    return [float(f"{min(MAX_CLASS_WEIGHT, math.sqrt(shares[0] / max(share, 1e-9))):.2g}") for share in shares]


@decides("train.loss")
def loss(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """Cross-entropy + Dice (nnU-Net); cross-entropy weighted when a class is rare and patches do not
    already oversample it."""
    classes = planned["data.classes"]
    name = "bce" if classes == 1 else "ce"
    foreground = [entry["foreground_fraction"]["mean"] for entry in fingerprint["classes"]]
    shares = [max(0.0, 1 - sum(foreground)), *foreground]
    rare = [(_class_name(entry), share) for entry, share in zip(fingerprint["classes"], foreground) if share < RARE_CLASS]
    why = f"{name} + Dice: nnU-Net's; the Dice term handles class imbalance"
    if not rare or planned.get("data.foreground_crops"):
        return {"train.loss": f"{name}+dice"}, why + ("; rare foreground is oversampled in patches" if rare else "")
    weights = _class_weights(shares)
    return {"train.loss": f"{name}(class_weights={weights})+dice"}, (
        f"{why}; {', '.join(f'{what} covers {share:.2%}' for what, share in rare)} of the pixels: cross-entropy "
        f"weighted by sqrt(background share / class share), at most {MAX_CLASS_WEIGHT:g}")


@decides("train.optimizer", "train.lr", "train.weight_decay")
def optimizer(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """AdamW, learning rate 1e-3, weight decay 1e-4: every best recipe in RESULTS.md."""
    return {"train.optimizer": "adamw", "train.lr": 1e-3, "train.weight_decay": 1e-4}, (
        "the best recipes of RESULTS.md (PH2, JSRT, lung): AdamW, lr 1e-3, weight decay 1e-4")


def planned_config(planned: dict) -> Config:
    """The `Config` of the dotted keys planned so far."""
    return config_from_dict(apply_overrides({}, planned), "plan")


@decides("train.epochs")
def epochs(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """The whole epochs of the planned length the budget affords, from a timing of real training
    steps on this machine, each lengthened so they fill it; with fewer than MIN_EPOCHS,
    MIN_EPOCHS shorter ones."""
    timing = budget.time_steps(planned_config(planned))
    steps = planned["train.steps_per_epoch"]
    usable = budget.seconds * (1 - RESERVED_SHARE) - timing.start_seconds
    count = int(usable // (steps * timing.train_seconds + timing.epoch_seconds))
    settings = {"train.epochs": max(count, MIN_EPOCHS)}
    steps = max(1, int((usable / settings["train.epochs"] - timing.epoch_seconds) // timing.train_seconds))
    if steps != planned["train.steps_per_epoch"]:  # the whole epochs that fit, lengthened to fill the budget
        settings["train.steps_per_epoch"] = steps
    measured = (f"{timing.train_seconds:.3g} s/step on {budget.machine.describe()}: {timing.steps} steps timed after "
                f"the first ({timing.what}); validation and the epoch's files {timing.epoch_seconds:.1f} s "
                f"per epoch; model built in {timing.start_seconds:.0f} s")
    return settings, (
        f"{measured}; {RESERVED_SHARE:.0%} of {format_duration(budget.seconds)} kept for export and evaluation: "
        f"{settings['train.epochs']} epochs of {steps} steps"
        + (f" (the budget affords fewer than {MIN_EPOCHS} of {planned['train.steps_per_epoch']})" if count < MIN_EPOCHS
           else f" ({planned['train.steps_per_epoch']} lengthened to fill it)" if steps != planned["train.steps_per_epoch"]
           else ""))


@decides("train.schedule", "train.warmup_epochs")
def schedule(fingerprint: dict, planned: dict, budget: Budget) -> Decision:
    """Cosine decay (RESULTS.md's recipes) with one warm-up epoch when there are 10 or more."""
    warmup = 1 if planned["train.epochs"] >= 10 else 0
    return {"train.schedule": "cosine", "train.warmup_epochs": warmup}, (
        "cosine decay as RESULTS.md's recipes (a constant rate was within the seed spread at 256x256); "
        + ("one warm-up epoch: their 2 warm-up epochs were 36-124 steps" if warmup
           else "no warm-up: it would take a tenth of so few epochs"))


RULES: tuple[Callable[[dict, dict, Budget], Decision], ...] = (
    channels_and_classes, normalization, model, geometry, depth, batch_size, foreground_crops, epoch_length,
    augmentation, loss, optimizer, epochs, schedule,
)
"""The rules in the order they run: each may read what the ones before it chose."""
