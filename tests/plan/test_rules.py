"""Each rule of the plan (tfseg.plan.rules) on hand-made fingerprints."""

import math

import pytest

from tfseg.plan import Machine, rules
from tfseg.transforms import PIXEL_TRANSFORMS, parse_transforms

from tests.plan.conftest import CPU, GPU, TIMING, budget, make_fingerprint, object_class


def test_channels_follow_how_images_are_stored_and_classes_how_masks_were_read():
    rgb = make_fingerprint(stored_channels="3")
    settings, reason = rules.channels_and_classes(rgb, {}, budget())
    assert settings == {"data.channels": 3, "data.classes": 1} and "100 of 100 images stored in colour" in reason
    grey = make_fingerprint(classes=[object_class(1, "lung"), object_class(2, "heart"), object_class(3, "clavicle")],
                            class_names=["background", "lung", "heart", "clavicle"], encoding="labels")
    settings, reason = rules.channels_and_classes(grey, {}, budget())
    assert settings == {"data.channels": 1, "data.classes": 4}
    assert "every image stored grey" in reason and "label maps 0..3 (background, lung, heart, clavicle)" in reason
    palette = make_fingerprint(stored_channels="1")  # colour palette images: one band stored, read as RGB
    palette["options"]["data.channels"] = 3
    assert rules.channels_and_classes(palette, {}, budget())[0]["data.channels"] == 3  # as the data was read


@pytest.mark.parametrize("bit_depth, used, expected", [
    ("8", (10, 240), "scale"),      # the studies' datasets
    ("8", (100, 140), "zscore"),    # 40 of 255 levels
    ("16", (0, 4095), "zscore"),    # 12-bit data in uint16
    ("16", (0, 65000), "zscore"),
    ("float", (0.0, 1.0), "zscore"),
])
def test_normalization_scales_8_bit_images_and_z_scores_the_rest(bit_depth, used, expected):
    settings, reason = rules.normalization(make_fingerprint(bit_depth=bit_depth, used=used), {}, budget())
    assert settings == {"data.normalize": expected}
    if bit_depth == "16" and used[1] == 4095:
        assert "[0, 0.062]" in reason  # what dividing by 65535 would do


def test_unet_depth_brings_the_shorter_side_to_4_to_8_pixels():
    assert [rules.unet_depth(side) for side in (32, 64, 96, 128, 256, 384, 512, 1024)] == [2, 3, 4, 4, 5, 6, 6, 6]


@pytest.mark.parametrize("height, width, longer, expected", [
    (192, 256, 128, (96, 128)),   # PH2 at half size
    (256, 256, 256, (256, 256)),
    (300, 500, 256, (160, 256)),  # aspect 0.6: 153.6 rounds to a multiple of 32
    (64, 96, 96, (64, 96)),
])
def test_model_input_keeps_the_aspect_ratio_in_multiples_of_the_stride(height, width, longer, expected):
    size = rules.model_input(height, width, longer)
    stride = 2 ** rules.unet_depth(min(size))
    assert size == expected and size[0] % stride == size[1] % stride == 0


def test_geometry_resizes_to_the_smallest_size_that_keeps_the_objects():
    lesions = make_fingerprint(height=192, width=256, classes=[object_class(width_p10=36)])  # PH2: 36 px at native
    settings, reason = rules.geometry(lesions, {}, budget())
    assert settings == {"data.image_size": [96, 128]}  # 18 px wide at 128, 9 at 64
    assert "longer side 128 of 256" in reason and "9.0 px wide at 64" in reason


def test_geometry_keeps_native_resolution_when_a_resize_loses_objects():
    lungs = make_fingerprint(classes=[object_class(width_p10=40, resize={64: (0.03, 0, 0.1), 128: (0.018, 0.002, 0.05)})])
    settings, reason = rules.geometry(lungs, {}, budget())
    assert settings == {"data.image_size": [256, 256]} and "1.8% of class 1 objects vanished at 128" in reason


def test_geometry_trains_on_patches_when_keeping_the_objects_is_unaffordable():
    specks = make_fingerprint(height=1024, width=1024, classes=[object_class(
        fraction=0.0005, objects_per_image=4, object_pixels=36, width_p10=6,
        resize={64: (0.9, 0, 0), 128: (0.5, 0, 0), 256: (0.2, 0, 0), 512: (0, 0, 0)})])
    settings, reason = rules.geometry(specks, {}, budget(600))
    # 10 min on 2 cores price 5000 samples at 800k px/s: at most 293x293 px each
    assert settings == {"data.crop": 256, "data.image_size": [256, 256]}
    assert "native resolution (1024x1024 images)" in reason and "sliding window" in reason
    assert "the budget affords 5000 samples of at most 293x293" in reason
    assert rules.geometry(specks, {}, budget(3600, GPU))[0] == {"data.image_size": [1024, 1024]}


def test_geometry_patches_fit_the_memory_of_the_device():
    small_gpu = Machine("gpu", "small GPU", 1, 8, 2**30)  # 1 GiB: a batch of 2 fits 256x256 px at most
    native = make_fingerprint(height=2048, width=2048, classes=[object_class(width_p10=2)])
    settings, reason = rules.geometry(native, {}, budget(10 * 3600, small_gpu))
    assert settings["data.crop"] == 256 and "memory affords" in reason


def test_model_is_the_unet():
    assert rules.model(make_fingerprint(), {}, budget())[0] == {"model.name": "unet"}


@pytest.mark.parametrize("size", [[64, 64], [96, 128], [160, 256], [256, 256], [384, 384], [512, 512]])
def test_depth_gives_a_bottleneck_of_4_to_8_pixels(size):
    settings, reason = rules.depth(make_fingerprint(), {"data.image_size": size}, budget())
    bottleneck = min(size) // 2 ** settings["model.options.depth"]
    assert 4 <= bottleneck <= 8 and f"{settings['model.options.depth']} poolings" in reason


def test_depth_is_capped_for_large_inputs():
    settings, reason = rules.depth(make_fingerprint(), {"data.image_size": [1024, 1024]}, budget())
    assert settings == {"model.options.depth": 6} and "bottleneck of 16x16 px" in reason and "capped at 6" in reason


def test_batch_size_from_the_device_and_the_dataset():
    lungs = make_fingerprint(images=704, train=493)
    assert rules.batch_size(lungs, {"data.image_size": [256, 256]}, budget())[0] == {"train.batch_size": 8}  # CPU cap
    assert rules.batch_size(lungs, {"data.image_size": [256, 256]}, budget(machine=GPU))[0] == {
        "train.batch_size": 24}  # 5% of 493 images; 40 GiB hold 160
    few = make_fingerprint(images=24, train=16)
    settings, reason = rules.batch_size(few, {"data.image_size": [64, 64]}, budget())
    assert settings == {"train.batch_size": 2} and "at least 2" in reason


def test_batch_size_of_patches_counts_the_native_pixels():
    big = make_fingerprint(height=1024, width=1024, images=30, train=20)
    settings, _ = rules.batch_size(big, {"data.crop": 256, "data.image_size": [256, 256]}, budget())
    assert settings == {"train.batch_size": 8}  # 5% of 20 images of 1024x1024 is 16 patches; the CPU takes 8


def test_foreground_crops_when_uniform_patches_miss_the_objects():
    sparse = make_fingerprint(height=1024, width=1024, classes=[object_class(objects_per_image=4, object_pixels=36)])
    settings, reason = rules.foreground_crops(sparse, {"data.crop": 256}, budget())
    hit = ((256 + 6) / 1024) ** 2
    assert settings == {"data.foreground_crops": 0.33} and f"about {1 - (1 - hit) ** 4:.0%}" in reason
    dense = make_fingerprint(height=512, width=512, classes=[object_class(objects_per_image=100, object_pixels=400)])
    assert rules.foreground_crops(dense, {"data.crop": 256}, budget())[0] == {"data.foreground_crops": 0.0}
    assert rules.foreground_crops(sparse, {"data.image_size": [256, 256]}, budget())[0] == {}


def test_an_epoch_is_250_steps():
    assert rules.epoch_length(make_fingerprint(), {}, budget())[0] == {"train.steps_per_epoch": 250}


def test_augmentation_by_modality_and_size():
    planned = {"data.channels": 1, "data.normalize": "scale"}
    assert rules.augmentation(make_fingerprint(train=493), planned, budget())[0] == {"data.augment": "light"}
    assert rules.augmentation(make_fingerprint(train=20), planned, budget())[0] == {"data.augment": "medium"}
    colour = {**planned, "data.channels": 3}
    assert rules.augmentation(make_fingerprint(train=493), colour, budget())[0] == {"data.augment": "medium"}


def test_augmentation_of_z_scored_images_is_geometric():
    settings, reason = rules.augmentation(make_fingerprint(train=20), {"data.channels": 1, "data.normalize": "zscore"},
                                          budget())
    names = [transform.name for transform in parse_transforms(settings["data.augment"])]
    assert names == ["horizontal_flip", "affine"] and not set(names) & set(PIXEL_TRANSFORMS)
    assert "geometric transforms of medium" in reason


def test_loss_is_cross_entropy_and_dice_weighted_for_rare_classes():
    binary = make_fingerprint()
    assert rules.loss(binary, {"data.classes": 1}, budget())[0] == {"train.loss": "bce+dice"}
    organs = [object_class(1, fraction=0.29), object_class(2, fraction=0.09), object_class(3, fraction=0.019)]
    assert rules.loss(make_fingerprint(classes=organs), {"data.classes": 4}, budget())[0] == {"train.loss": "ce+dice"}
    rare = [object_class(1, fraction=0.29), object_class(2, fraction=0.09), object_class(3, "clavicle", fraction=0.004)]
    settings, reason = rules.loss(make_fingerprint(classes=rare), {"data.classes": 4}, budget())
    background = 1 - 0.29 - 0.09 - 0.004
    weights = [1.0, float(f"{math.sqrt(background / 0.29):.2g}"), float(f"{math.sqrt(background / 0.09):.2g}"), 10.0]
    assert settings == {"train.loss": f"ce(class_weights={weights})+dice"}
    assert "class 3 (clavicle) covers 0.40%" in reason


def test_loss_leaves_rare_foreground_to_oversampled_patches():
    specks = make_fingerprint(classes=[object_class(fraction=0.0005)])
    assert rules.loss(specks, {"data.classes": 1}, budget())[0] == {"train.loss": "bce(class_weights=[1.0, 10.0])+dice"}
    settings, reason = rules.loss(specks, {"data.classes": 1, "data.foreground_crops": 0.33}, budget())
    assert settings == {"train.loss": "bce+dice"} and "oversampled" in reason


def test_optimizer_is_the_recipes_adamw():
    assert rules.optimizer(make_fingerprint(), {}, budget())[0] == {
        "train.optimizer": "adamw", "train.lr": 1e-3, "train.weight_decay": 1e-4}


PLANNED = {"data.dir": "/data/handmade", "data.image_size": [256, 256], "model.name": "unet",
           "model.options.depth": 5, "train.batch_size": 8, "train.steps_per_epoch": 250}


def test_epochs_fill_the_budget_from_the_measured_step_time():
    settings, reason = rules.epochs(make_fingerprint(), PLANNED, budget(3600))
    usable = 3600 * 0.9 - TIMING.start_seconds
    per_epoch = 250 * TIMING.train_seconds + TIMING.epoch_seconds
    steps = int((usable / 24 - TIMING.epoch_seconds) // TIMING.train_seconds)
    assert int(usable // per_epoch) == 24 and settings == {"train.epochs": 24, "train.steps_per_epoch": steps}
    assert 250 < steps < 250 * 25 / 24 and 24 * (steps * TIMING.train_seconds + TIMING.epoch_seconds) <= usable
    assert "0.5 s/step on this CPU (test CPU, 2 cores, 24 GiB): 12 steps timed after the first (batch 8 of 256x256x1" in reason
    assert "10% of 1 h kept" in reason and f"24 epochs of {steps} steps (250 lengthened to fill it)" in reason


def test_epochs_shorten_when_the_budget_is_small():
    settings, reason = rules.epochs(make_fingerprint(), PLANNED, budget(300))
    usable = 300 * 0.9 - TIMING.start_seconds
    steps = int((usable / 5 - TIMING.epoch_seconds) // TIMING.train_seconds)
    assert settings == {"train.epochs": 5, "train.steps_per_epoch": steps} and steps == 93
    assert "fewer than 5 of 250" in reason


def test_schedule_is_cosine_with_a_warm_up_epoch_when_there_are_enough():
    assert rules.schedule(make_fingerprint(), {"train.epochs": 24}, budget())[0] == {
        "train.schedule": "cosine", "train.warmup_epochs": 1}
    assert rules.schedule(make_fingerprint(), {"train.epochs": 5}, budget())[0] == {
        "train.schedule": "cosine", "train.warmup_epochs": 0}


def test_rules_run_in_a_fixed_order_each_after_what_it_reads():
    names = [rule.__name__ for rule in rules.RULES]
    assert names == ["channels_and_classes", "normalization", "model", "geometry", "depth", "batch_size",
                     "foreground_crops", "epoch_length", "augmentation", "loss", "optimizer", "epochs", "schedule"]
    assert CPU.describe() == "this CPU (test CPU, 2 cores, 24 GiB)"
