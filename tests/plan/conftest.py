"""Helpers of the plan's tests: hand-made fingerprints, a fixed timing, and the cache in tmp_path."""


from tfseg.plan import Budget, Machine, StepTiming

GIB = 2**30
CPU = Machine("cpu", "test CPU", 1, 2, 24 * GIB)
"""The development VM: 2 cores, 24 GiB."""
GPU = Machine("gpu", "test GPU", 1, 16, 80 * GIB)
TIMING = StepTiming(train_seconds=0.5, epoch_seconds=5.5, start_seconds=10.0, steps=12,
                    what="batch 8 of 256x256x1, float32")


def fixed_timing(config):
    """A timing of any config: what `time_training_steps` might measure on the development VM."""
    return TIMING


def budget(seconds=1800, machine=CPU):
    return Budget(seconds, machine, fixed_timing)


def object_class(label=1, name=None, fraction=0.2, objects_per_image=1, object_pixels=5000, width_p10=40.0,
                 resize=None, images_with_class=100):
    """One `classes[]` entry of a fingerprint; `resize` is {size: (vanished, merged, split)}."""
    spread = lambda value: {"median": value, "percentile_10": value, "percentile_90": value, "min": value, "max": value}
    return {
        "label": label, "name": name, "images_with_class": images_with_class,
        "foreground_fraction": {"mean": fraction, "median": fraction, "min": fraction, "max": fraction},
        "objects": images_with_class * objects_per_image,
        "objects_per_image": spread(objects_per_image),
        "object_size": {"pixels": spread(object_pixels), "fraction": spread(fraction / objects_per_image)},
        "width_px": {**spread(width_p10 * 2), "percentile_10": width_p10},
        "resize": [{"size": size, "images": images_with_class, "objects": images_with_class * objects_per_image,
                    "vanished": vanished, "merged": merged, "split": split}
                   for size, (vanished, merged, split) in sorted((resize or {}).items())],
    }


def make_fingerprint(height=256, width=256, images=100, train=70, bit_depth="8", stored_channels="1", used=(10, 240),
                     classes=None, class_names=None, encoding="0/255"):
    """A fingerprint dict with the fields the rules read (docs/data.md, "Fingerprint")."""
    classes = classes if classes is not None else [object_class(images_with_class=images)]
    spread = lambda value: {"median": value, "percentile_10": value, "percentile_90": value, "min": value, "max": value}
    channel = {"mean": sum(used) / 2, "std": 10, "median": sum(used) / 2, "percentile_00_5": used[0],
               "percentile_99_5": used[1], "min": used[0], "max": used[1]}
    names = ["grey"] if stored_channels == "1" else ["red", "green", "blue"]
    return {
        "version": 1, "dataset": "/data/handmade",
        "options": {"data.channels": 1 if stored_channels == "1" else 3, "data.classes": max(1, len(classes) + 1 if len(classes) > 1 else 1),
                    "data.mask_threshold": 127, "data.mask_suffix": "", "data.val_fraction": 0.15,
                    "data.test_fraction": 0.15, "data.stratify": None, "data.folds": 0, "data.fold": 0, "train.seed": 42},
        "images": {"count": images, "splits": {"train": train, "val": (images - train) // 2,
                                               "test": images - train - (images - train) // 2},
                   "stored_channels": {stored_channels: images}, "bit_depth": {bit_depth: images},
                   "height": spread(height), "width": spread(width), "aspect": spread(width / height)},
        "intensity": {"sampled_pixels_per_image": 10000,
                      "channels": [{"channel": name, "all": channel, "foreground": channel} for name in names]},
        "masks": {"encoding": encoding, "class_names": class_names},
        "classes": classes,
    }
