"""What `export.py` does: export a finished run again, with more formats, another ONNX batch or
another threshold (tuned on the val split with `auto`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfseg.config import validate_config
from tfseg.data import load_table, resolve_data_dir
from tfseg.errors import TfsegError
from tfseg.evaluation.report import check_evaluation_options, tune_threshold
from tfseg.export.card import card_postprocess, card_threshold, card_tta, read_model_card
from tfseg.export.folder import FORMATS, export_run
from tfseg.export.loading import load_run_model
from tfseg.run import RunDir, read_config
from tfseg.run_state import RunLock


def export_again(run_dir: str | Path, formats: Sequence[str] = (), batch: int | None = None,
                 threshold: float | str | None = None, package: dict[str, Any] | None = None) -> list[str]:
    """Exports the best epoch of the finished run in `run_dir` again into its `export/`.

    Args:
        run_dir: str or Path. A run directory written by train.py.
        formats: sequence of str. Formats to add (`FORMATS`); the run's earlier formats are written again.
        batch: int or None. Batch dimension of `model.onnx` (0: dynamic); None keeps `train.export_batch`.
        threshold: float, "auto" or None. The binary threshold the model card gives predict.py;
            `auto`: the best mean Dice on the val split, predicted with the card's `tta` and
            `postprocess`; None keeps the card's. The card's `tta` and `postprocess` are kept.
        package: dict or None. The bioimage.io package's `license` and `authors`.

    Returns:
        The formats written besides the SavedModel, in `FORMATS` order.

    Raises:
        TfsegError: not a run directory, or an option that cannot work (nothing is written then).
    """
    run = RunDir(run_dir)
    if not run.config.is_file():
        raise TfsegError(f"{run.path}: not a run directory, expected config.yaml written by train.py")
    config = read_config(run.path)
    card = read_model_card(run.path) or {}
    earlier = card.get("files", {})
    config.train.export = [name for name in FORMATS if name in earlier or name in formats]
    if batch is not None:
        if batch < 0:
            raise TfsegError(f"--export-batch {batch}: expected 0 (dynamic) or a positive batch size")
        config.train.export_batch = batch
    validate_config(config)
    chosen, choice = card_threshold(card), card.get("threshold_choice", "fixed")
    postprocess, tta = card_postprocess(card), card_tta(card)
    if threshold is not None:
        check_evaluation_options(config.data.classes, threshold, postprocess, (1.0, 1.0))
        chosen, choice = threshold, "fixed"
        if threshold == "auto":
            config.data.dir = str(resolve_data_dir(config.data))
            table = load_table(config.data, config.train.seed)
            members = [(load_run_model(run.path), config)]
            chosen, choice = tune_threshold(members, table, tta, postprocess, True)
    with RunLock(run.path):
        export_run(run, config, chosen, choice, package, postprocess, tta)
    return config.train.export
