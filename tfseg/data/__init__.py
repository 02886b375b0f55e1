"""Datasets: discovery of image/mask pairs, the tf.data pipeline, augmentation and the demo data."""

from tfseg.data.discovery import (
    assign_folds,
    assign_splits,
    classes_of,
    discover_pairs,
    load_dataset_table,
    mask_reader,
    read_class_names,
    read_manifest,
    validate_pairs,
)
from tfseg.data.fingerprint import describe_classes, fingerprint, fingerprint_file, fingerprint_path
from tfseg.data.io import MaskReader, read_image, read_mask, resize_labels, to_model_input
from tfseg.data.pipeline import (
    check_settled,
    datasets,
    grid_tiles,
    load_table,
    make_dataset,
    make_training_data,
    masks_of,
    model_inputs,
    resolve_data_dir,
    settle_data,
    split_rows,
    targets_per_head,
)
from tfseg.data.preview_grid import preview
from tfseg.data.summary import dataset_summary
from tfseg.data.synthetic import make_sample, write_demo_dataset
from tfseg.transforms import PRESETS, TRANSFORM_DEFAULTS, parse_transforms

__all__ = [
    "MaskReader",
    "PRESETS",
    "TRANSFORM_DEFAULTS",
    "assign_folds",
    "assign_splits",
    "classes_of",
    "check_settled",
    "dataset_summary",
    "datasets",
    "describe_classes",
    "discover_pairs",
    "fingerprint",
    "fingerprint_file",
    "fingerprint_path",
    "grid_tiles",
    "load_dataset_table",
    "load_table",
    "make_dataset",
    "model_inputs",
    "make_sample",
    "make_training_data",
    "mask_reader",
    "masks_of",
    "parse_transforms",
    "preview",
    "read_class_names",
    "read_image",
    "read_manifest",
    "read_mask",
    "resize_labels",
    "resolve_data_dir",
    "settle_data",
    "split_rows",
    "targets_per_head",
    "to_model_input",
    "validate_pairs",
    "write_demo_dataset",
]
