"""Datasets: discovery of image/mask pairs, the tf.data pipeline and the demo data."""

from tfseg.data.discovery import assign_splits, discover_pairs, load_dataset_table, validate_pairs
from tfseg.data.io import read_image, read_mask, to_model_input, to_model_target
from tfseg.data.pipeline import load_table, make_dataset, resolve_data_dir, split_rows
from tfseg.data.synthetic import make_sample, write_demo_dataset

__all__ = [
    "assign_splits",
    "discover_pairs",
    "load_dataset_table",
    "load_table",
    "make_dataset",
    "make_sample",
    "read_image",
    "read_mask",
    "resolve_data_dir",
    "split_rows",
    "to_model_input",
    "to_model_target",
    "validate_pairs",
    "write_demo_dataset",
]
