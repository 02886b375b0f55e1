"""`tfseg predict MODEL INPUT... [--out DIR]` (predict.py, tfseg-predict): writes masks for new images."""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_inference_flags, add_verbose_flag, number_or, positive_int, run

EXAMPLES = """\
examples:
  tfseg predict runs/demo ~/.cache/tfseg/demo-n240-s128-seed0/images --overlays
  tfseg predict runs/demo $DATA/images --out pred --tta flip \\
      --postprocess remove-small=20+fill-holes
  tfseg predict runs/demo/export/model.onnx scan.dcm --out pred
  tfseg predict runs/demo big.png --sliding-window --scale fit
"""
"""The examples at the end of `tfseg predict --help`."""


def predict_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of predict.py."""
    parser = ArgumentParser(prog=prog, usage="%(prog)s MODEL INPUT... [--out DIR] [FLAG]...",
                            description="Predict masks for images with a trained tfseg model.",
                            epilog=EXAMPLES)
    parser.add_argument("model", help="run directory (best.keras + config.yaml), .keras file, SavedModel folder, "
                                      ".onnx file (run by onnxruntime) or .tflite file (run by LiteRT)")
    parser.add_argument("inputs", nargs="+", help="image files (PNG/JPEG/BMP/TIFF/GIF/DICOM) or folders of them")
    parser.add_argument("--out", metavar="DIR", help="output folder: masks/, overlays/, areas.csv (default: "
                                                     "MODEL/predictions for a run directory, else ./predictions)")
    parser.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                        help="images (or windows) per forward pass (default: 8)")
    parser.add_argument("--threshold", type=float, metavar="T",
                        help="binary threshold (default: the model card's, e.g. from tfseg export --threshold auto; "
                             "else 0.5)")
    add_inference_flags(parser, card_defaults=True)
    parser.add_argument("--sliding-window", action="store_true", default=None,
                        help="tile the image with overlapping Gaussian-blended windows instead of resizing it "
                             "(default: only for crop-trained models, from the run or the model card)")
    parser.add_argument("--overlap", type=float, default=0.5, metavar="X",
                        help="sliding window: least overlap of windows (default: 0.5)")
    parser.add_argument("--scale", nargs="+", type=number_or("fit", "a positive number or 'fit'"), metavar="S",
                        help="sliding window: resize factor (or SY SX) before tiling, or fit (to the model input) "
                             "(default: the training scale: fit for resize-trained runs, 1 for crop-trained runs "
                             "and model files without a model card)")
    parser.add_argument("--overlays", action="store_true",
                        help="also write overlays/<name>.png: each predicted class's outline over the image, with a legend")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg predict MODEL INPUT... [--out DIR]`: writes masks for new images."""
    args = predict_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.prediction import predict_paths
        from tfseg.run import RunDir

        model = RunDir(args.model)
        out = args.out or str(model.predictions if model.config.is_file() else "predictions")
        table = predict_paths(
            args.model, args.inputs, out, batch_size=args.batch_size, tta=args.tta, threshold=args.threshold,
            postprocess_method=args.postprocess, sliding_window=args.sliding_window, overlap=args.overlap,
            scale=args.scale, overlays=args.overlays, precision=args.precision,
        )
        overlays = f", overlays in {os.path.join(out, 'overlays')}" if args.overlays else ""
        print(f"tfseg: {len(table)} image{'s' if len(table) != 1 else ''} predicted: masks in "
              f"{os.path.join(out, 'masks')}{overlays}, areas in {os.path.join(out, 'areas.csv')}")

    return run(command, args.verbose)
