"""Exports of a trained run, and what an export folder holds.

One module per format, each with its writer and the runtime that runs its file:
`saved_model` (always written; TensorFlow), `tflite` (LiteRT), `onnx` (onnxruntime) and
`bioimageio` (a bioimage.io package, tested by bioimage.io's own tools). `formats` says
what a format is; `folder` holds their registry (`FORMATS`) and writes an export folder
atomically, the int8 calibration images and the bioimage.io sample given as arguments;
`card` writes and reads the model card; `loading` loads a model to predict with from a run,
a `.keras` file or an export; `checks` predicts a split with every export in its runtime;
`command` is `export.py`'s work.

The modules named here are imported from this package; `checks` and `command`, which
predict and tune as evaluation does, are imported by their full names.
"""

from tfseg.export.card import MODEL_CARD, card_postprocess, card_threshold, card_tta, model_card, read_model_card
from tfseg.export.folder import FORMATS, export_model, export_run
from tfseg.export.loading import MODEL_FILES, load_model_file, load_predictor, load_run_model

__all__ = [
    "FORMATS",
    "MODEL_CARD",
    "MODEL_FILES",
    "card_postprocess",
    "card_threshold",
    "card_tta",
    "export_model",
    "export_run",
    "load_model_file",
    "load_predictor",
    "load_run_model",
    "model_card",
    "read_model_card",
]
