"""`tfseg predict MODEL INPUT... --out DIR` (predict.py, tfseg-predict): writes masks for new images."""

from __future__ import annotations

import os
from typing import Sequence

from tfseg.cli.command import ArgumentParser, add_precision_flag, add_verbose_flag, number_or, run


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg predict MODEL INPUT... --out DIR`: writes masks for new images."""
    parser = ArgumentParser(
        prog=prog, description="Predict masks for images with a trained tfseg model.")
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
    parser.add_argument("--scale", nargs="+", type=number_or("fit", "a positive number or 'fit'"), metavar="S",
                        help="sliding window: resize factor (or SY SX) before tiling, or 'fit' (to the model input); "
                             "default: the training scale (fit for resize-trained runs, 1 for crop-trained runs "
                             "and model files without a model card)")
    parser.add_argument("--overlays", action="store_true",
                        help="also write overlays/<name>.png: each predicted class's outline over the image, with a legend")
    add_precision_flag(parser)
    add_verbose_flag(parser)
    args = parser.parse_args(argv)

    def command() -> None:
        from tfseg.prediction import predict_paths

        table = predict_paths(
            args.model, args.inputs, args.out, batch_size=args.batch_size, tta=args.tta, threshold=args.threshold,
            postprocess_method=args.postprocess, sliding_window=args.sliding_window, overlap=args.overlap,
            scale=args.scale, overlays=args.overlays, precision=args.precision,
        )
        overlays = f", overlays in {os.path.join(args.out, 'overlays')}" if args.overlays else ""
        print(f"tfseg: {len(table)} image{'s' if len(table) != 1 else ''} predicted: masks in "
              f"{os.path.join(args.out, 'masks')}{overlays}, areas in {os.path.join(args.out, 'areas.csv')}")

    return run(command, args.verbose)
