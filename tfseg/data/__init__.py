"""Datasets: discovery of image/mask pairs, the tf.data pipeline, augmentation and the demo data."""

from tfseg.data.discovery import (
    assign_folds,
    assign_splits,
    discover_pairs,
    load_dataset_table,
    mask_reader,
    read_class_names,
    read_manifest,
    validate_pairs,
)
from tfseg.data.io import MaskReader, read_image, read_mask, resize_labels, to_model_input
from tfseg.data.pipeline import (
    check_settled, grid_tiles, load_table, make_dataset, masks_of, model_inputs, resolve_data_dir, settle_data,
    split_rows,
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
    "check_settled",
    "dataset_summary",
    "discover_pairs",
    "grid_tiles",
    "load_dataset_table",
    "load_table",
    "make_dataset",
    "model_inputs",
    "make_sample",
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
    "to_model_input",
    "validate_pairs",
    "write_demo_dataset",
]
