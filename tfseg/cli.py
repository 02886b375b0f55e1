"""Command-line entry points: parse arguments, load the config, call one library function.

`train.py` / `tfseg-train` call `train_main`; `evaluate.py` / `tfseg-evaluate` call
`evaluate_main`; `predict.py` / `tfseg-predict` call `predict_main`; `compare.py` /
`tfseg-compare` call `compare_main`; `export.py` / `tfseg-export` call `export_main`. A `TfsegError`
becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _run(function: Callable[[], int | None]) -> int:
    """Runs `function`, turning a TfsegError into `error: <message>` and exit 2, and a
    training stopped by a signal into its message and 128 + the signal number."""
    from tfseg.errors import TfsegError, TrainingStopped

    try:
        return function() or 0
    except TfsegError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingStopped as stopped:
        print(f"tfseg: {stopped}", file=sys.stderr)
        return stopped.exit_code


def train_parser() -> argparse.ArgumentParser:
    """The argument parser of train.py: its own actions, then one flag per declared option (`tfseg.config.OPTIONS`)."""
    from tfseg.config import OPTIONS
    from tfseg.options import add_flags

    parser = argparse.ArgumentParser(prog="train.py", description="Train a tfseg segmentation model.")
    parser.add_argument("--config", help="YAML config file (see configs/); flags override its values")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run; --epochs is the total")
    parser.add_argument("--inspect", action="store_true",
                        help="print the dataset summary (splits, sizes, modes, mask values) and exit; exit 2 on problems")
    parser.add_argument("--preview", type=int, metavar="N", help="write a PNG grid of N augmented training pairs and exit")
    parser.add_argument("--preview-path", default="preview.png", help="where --preview writes (default preview.png)")
    parser.add_argument("--list-models", action="store_true", help="print the model names by family, then exit")
    add_flags(parser.add_argument_group("options (docs/options.md)"), OPTIONS)
    return parser


def _list_models() -> None:
    """`train.py --list-models`: every model name, grouped by family, each architecture
    with its one-line "when to use it"; a decoder with the names it has on each encoder."""
    import textwrap

    from tfseg import models
    from tfseg.models.encoders import ENCODERS

    by_family: dict[str, list] = {}
    for architecture in models.architectures():
        by_family.setdefault(architecture.family, []).append(architecture)
    table = models.entries()
    for family, architectures in by_family.items():
        print(family)
        for architecture in architectures:
            pattern = f"{architecture.name}_<encoder>" if architecture.takes_encoder else architecture.name
            print(f"  {pattern:<24}{architecture.when}")
            if architecture.takes_encoder:
                names = " ".join(name for name, entry in table.items() if entry.architecture is architecture)
                print(textwrap.fill(names, width=100, initial_indent=" " * 4, subsequent_indent=" " * 4))
        print()
    print("Encoders (<encoder>), by family; imagenet weights from")
    kinds: dict[tuple, list] = {}
    for encoder, spec in ENCODERS.items():
        kinds.setdefault((spec.family, spec.weights_source), []).append(encoder)
    for (family, source), encoders in kinds.items():
        print(f"  {family:<16}{' '.join(encoders):<60}{source}")


def _inspect_or_preview(config, inspect: bool, preview: int | None, preview_path: str) -> None:
    """`train.py --inspect` / `--preview N`: look at the data instead of training."""
    from tfseg import data

    if inspect:
        print(data.dataset_summary(config))
    if preview:
        print(f"tfseg: preview of {preview} augmented training pairs written to {data.preview(config, preview, preview_path)}")


def train_main(argv: Sequence[str] | None = None) -> int:
    """`python train.py ...`: trains a model and prints the run directory."""
    args = train_parser().parse_args(argv)

    def main() -> None:
        from tfseg.config import OPTIONS, load_config
        from tfseg.errors import TfsegError
        from tfseg.options import overrides_from_flags
        from tfseg.export.card import read_model_card
        from tfseg.training import resume_run, train

        if args.list_models:
            _list_models()
            return
        overrides = overrides_from_flags(args, OPTIONS)
        if args.inspect or args.preview:
            _inspect_or_preview(load_config(args.config, overrides), args.inspect, args.preview, args.preview_path)
            return
        if args.resume:
            if args.config:
                raise TfsegError("--resume RUN_DIR uses RUN_DIR/config.yaml; drop --config")
            run_dir = resume_run(args.resume, overrides)
        else:
            run_dir = train(load_config(args.config, overrides))
        if (read_model_card(run_dir) or {}).get("files", {}).keys() - {"saved_model"}:
            _print_export_checks(run_dir)
        print(f"tfseg: run written to {run_dir}")

    return _run(main)


def _print_export_checks(run_dir) -> None:
    """Checks a run's exports on its val split (`tfseg.export.checks.check_exports`) and prints the table."""
    from tfseg.export.checks import check_exports

    table = check_exports(run_dir, "val")
    print(f"tfseg: exports of {run_dir} on the val split, each in its own runtime, against best.keras "
          f"(also in export/checks.csv):")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))


def export_main(argv: Sequence[str] | None = None) -> int:
    """`python export.py RUN --format ...`: exports a finished run again, in more formats."""
    from tfseg.config import EXPORT_FORMATS

    parser = argparse.ArgumentParser(
        prog="export.py", description="Export a trained run (into RUN/export/) and check every export against best.keras.")
    parser.add_argument("run_dir", help="run directory written by train.py")
    parser.add_argument("--format", nargs="+", default=[], choices=("savedmodel", *EXPORT_FORMATS), metavar="FORMAT",
                        help="formats to add to the export: savedmodel (always written), " + ", ".join(EXPORT_FORMATS)
                             + "; the run's earlier formats are written again")
    parser.add_argument("--batch", type=int, metavar="N",
                        help="batch dimension of model.onnx: 0 = dynamic (default: the run's train.export_batch)")
    parser.add_argument("--threshold", type=_threshold,
                        help="binary threshold the model card gives predict.py, or 'auto': the best mean Dice on the "
                             "val split (default: the current card's)")
    parser.add_argument("--license", default="MIT", help="bioimage.io package: SPDX licence id (default MIT)")
    parser.add_argument("--author", action="append", metavar="NAME",
                        help="bioimage.io package: an author (repeat for several; default the placeholder 'tfseg user')")
    args = parser.parse_args(argv)

    def main() -> None:
        from tfseg.export.command import export_again
        from tfseg.run import RunDir

        package = {"license": args.license, **({"authors": args.author} if args.author else {})}
        written = export_again(args.run_dir, args.format, args.batch, args.threshold, package)
        _print_export_checks(args.run_dir)
        print(f"tfseg: exported {', '.join(['savedmodel', *written])} into {RunDir(args.run_dir).export}")

    return _run(main)


def _threshold(text: str) -> float | str:
    """argparse type of --threshold: a number or `auto`."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1) or 'auto', got {text!r}") from None


def _add_precision_flag(parser: argparse.ArgumentParser) -> None:
    from tfseg.distribution import INFERENCE_PRECISIONS

    parser.add_argument("--precision", default="float32", choices=INFERENCE_PRECISIONS,
                        help="what the model computes in: float32 (default: the same results on every machine), "
                             "mixed_bfloat16_convs (faster on CPUs with bfloat16 instructions), or auto "
                             "(mixed_bfloat16_convs where that helps; docs/speed.md)")


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """`python evaluate.py RUN_DIR ...`: evaluates a run and prints its summary."""
    parser = argparse.ArgumentParser(prog="evaluate.py", description="Evaluate a trained tfseg run.")
    parser.add_argument("run_dir", help="run directory written by train.py")
    parser.add_argument("--data", help="dataset folder (default: the one the run was trained on)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--tta", default="none", help="test-time augmentation: none, flip (left-right) or flip-all")
    parser.add_argument("--threshold", type=_threshold, default=0.5,
                        help="binary threshold, or 'auto': the best mean Dice on the val split (default 0.5)")
    parser.add_argument("--postprocess", default="none", help="none or largest-component (per class)")
    parser.add_argument("--spacing", type=float, nargs=2, default=(1.0, 1.0), metavar=("SY", "SX"),
                        help="pixel size (row, column) for ASSD/HD95, e.g. in mm (default 1 1: pixels)")
    parser.add_argument("--out", help="output folder (default RUN_DIR/eval/SPLIT)")
    parser.add_argument("--ensemble", nargs="+", default=[], metavar="RUN",
                        help="also average the probabilities of these runs (same classes and channels), e.g. other "
                             "seeds or folds of the same recipe")
    _add_precision_flag(parser)
    args = parser.parse_args(argv)

    def main() -> None:
        import pandas as pd

        from tfseg.evaluation import evaluate_run
        from tfseg.run import RunDir

        summary = evaluate_run(
            args.run_dir, args.data, args.split, tta=args.tta, threshold=args.threshold,
            postprocess_method=args.postprocess, spacing=tuple(args.spacing), out_dir=args.out, progress=True,
            precision=args.precision, ensemble=args.ensemble,
        )
        out_dir = args.out or RunDir(args.run_dir).eval_dir(args.split)
        print(f"{args.split} split of {args.run_dir} ({summary['images']} images, threshold {summary['threshold']:g}):")
        print(pd.DataFrame(summary["scores"]).T.to_string(float_format=lambda value: f"{value:.4f}"))
        print("empty masks: " + ", ".join(f"{case}: {n}" for case, n in summary["empty_cases"].items()))
        print(f"tfseg: report, per-image scores and pictures in {out_dir}")

    return _run(main)


def _scale_factor(text: str) -> float | str:
    """argparse type of --scale: a positive number or `fit`."""
    if text == "fit":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'fit', got {text!r}") from None


def predict_main(argv: Sequence[str] | None = None) -> int:
    """`python predict.py MODEL INPUT... --out DIR`: writes masks for new images."""
    parser = argparse.ArgumentParser(prog="predict.py", description="Predict masks for images with a trained tfseg model.")
    parser.add_argument("model", help="run directory (best.keras + config.yaml), .keras file, SavedModel folder, "
                                      ".onnx file (run by onnxruntime) or .tflite file (run by LiteRT)")
    parser.add_argument("inputs", nargs="+", help="image files (PNG/JPEG/BMP/TIFF/GIF/DICOM) or folders of them")
    parser.add_argument("--out", required=True, help="output folder: masks/, overlays/, areas.csv")
    parser.add_argument("--batch-size", type=int, default=8, help="images (or windows) per forward pass")
    parser.add_argument("--tta", default="none", help="test-time augmentation: none, flip (left-right) or flip-all")
    parser.add_argument("--threshold", type=float,
                        help="binary threshold (default: the model card's, e.g. tuned by tfseg-export --threshold auto; "
                             "else 0.5)")
    parser.add_argument("--postprocess", default="none", help="none or largest-component (per class)")
    parser.add_argument("--sliding-window", action="store_true", default=None,
                        help="tile the image with overlapping Gaussian-blended windows instead of resizing it "
                             "(default: only for crop-trained models, from the run or the model card)")
    parser.add_argument("--overlap", type=float, default=0.5, help="sliding window: least overlap of windows (0.5)")
    parser.add_argument("--scale", nargs="+", type=_scale_factor, metavar="S",
                        help="sliding window: resize factor (or SY SX) before tiling, or 'fit' (to the model input); "
                             "default: the training scale (fit for resize-trained runs, 1 for crop-trained runs "
                             "and model files without a model card)")
    parser.add_argument("--overlays", action="store_true", help="also write overlays/<name>.png")
    _add_precision_flag(parser)
    args = parser.parse_args(argv)

    def main() -> None:
        from tfseg.prediction import predict_paths

        table = predict_paths(
            args.model, args.inputs, args.out, batch_size=args.batch_size, tta=args.tta, threshold=args.threshold,
            postprocess_method=args.postprocess, sliding_window=args.sliding_window, overlap=args.overlap,
            scale=args.scale, overlays=args.overlays, precision=args.precision,
        )
        print(f"tfseg: {len(table)} masks in {os.path.join(args.out, 'masks')}, areas in {os.path.join(args.out, 'areas.csv')}")

    return _run(main)


def compare_main(argv: Sequence[str] | None = None) -> int:
    """`python compare.py STUDY.yaml ...`: trains and evaluates a study's cells (tfseg.study);
    `python compare.py --publish RESULTS.md` rewrites the study tables published in a Markdown file."""
    parser = argparse.ArgumentParser(
        prog="compare.py", description="Run a study: train and evaluate every cell of a grid, then compare them.")
    parser.add_argument("study", nargs="?", help="study file (YAML; see configs/studies/ and docs/studies.md)")
    parser.add_argument("--cells", nargs="+", metavar="CELL",
                        help="run only these cells (names as --list prints them, with or without -s<seed>)")
    parser.add_argument("--out", default="studies", help="folder of all studies (default studies/)")
    parser.add_argument("--list", action="store_true", help="print each cell and its state, then exit")
    parser.add_argument("--render", action="store_true",
                        help="only redraw results.md and results.png from results.csv, then exit")
    parser.add_argument("--publish", metavar="MARKDOWN",
                        help="rewrite the study tables between '<!-- study table: STUDY.yaml -->' and "
                             "'<!-- end of study table -->' in this file (e.g. RESULTS.md) and their figures, then exit")
    parser.add_argument("--figures", default="docs/assets/studies",
                        help="with --publish: where the figures go (default docs/assets/studies/)")
    args = parser.parse_args(argv)

    def main() -> None:
        from tfseg.errors import TfsegError
        from tfseg.study import describe_cells, load_study, publish, render_results, run_study, select_cells

        if args.publish:
            if args.study:
                raise TfsegError("--publish MARKDOWN publishes the studies the file names; drop the study file")
            publish(args.publish, args.figures, args.out)
            print(f"tfseg: study tables in {args.publish} and their figures in {args.figures} rewritten")
            return
        if not args.study:
            raise TfsegError("expected a study file (STUDY.yaml), or --publish MARKDOWN")
        study = load_study(args.study, args.out)
        if args.list:
            print(describe_cells(study))
            return
        if args.render:
            render_results(study)
            print(f"tfseg: {study.results_md} and {study.figure} redrawn")
            return
        run_study(study, select_cells(study, args.cells))
        print(f"tfseg: study {study.name}: table in {study.results_md}, figure in {study.figure}")

    return _run(main)
