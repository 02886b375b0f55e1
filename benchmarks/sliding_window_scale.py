"""Sliding-window scale on a large image: Dice and time of predict.py's geometries.

A lung-cxr test image (256²) is upscaled to 2048² (bicubic; its mask bilinear then
thresholded), as a stand-in for a full-resolution radiograph, and predicted by a
resize-trained run (e.g. 128² input) in several ways:

- resize: the whole image resized to the model input (the training geometry);
- sliding window after resizing by `--scale` S, for S = model size / image size (the
  training field of view: one window), 2× and 8× that, and 1 (native pixels).

Prints one table (Dice against the upscaled mask, windows per image, seconds of
`tfseg.inference.predict` — the function predict.py calls — and the time relative to
the resize geometry measured in the same run).

    python benchmarks/sliding_window_scale.py RUN_DIR [--image ID] [--size 2048]
"""

from __future__ import annotations

import argparse
import time

import cv2

from tfseg.data import load_table, masks_of, read_image, split_rows
from tfseg.evaluation import segmentation_scores
from tfseg.export.loading import load_run_model
from tfseg.run import read_config
from tfseg.inference import predict, probabilities_to_labels, window_starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--image", help="test-split id (default: the first)")
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()

    config = read_config(args.run_dir)
    rows = split_rows(load_table(config.data, config.train.seed), "test").set_index("id")
    sample_id = args.image or rows.index[0]
    image = read_image(rows.at[sample_id, "image_path"], config.data.channels)
    labels = masks_of(config.data).labels(rows.at[sample_id, "mask_path"])
    big = cv2.resize(image, (args.size, args.size), interpolation=cv2.INTER_CUBIC).reshape(args.size, args.size, -1)
    truth = cv2.resize(labels * 255, (args.size, args.size), interpolation=cv2.INTER_LINEAR) > 127
    window = config.data.image_size
    fit = window[0] / args.size
    geometries = [("resize", False, None)] + [
        (f"sliding, scale {scale:g}", True, scale) for scale in (fit, 2 * fit, 8 * fit, 1.0)
    ]
    model = load_run_model(args.run_dir)
    predict(model, [big])  # warm-up: the first call traces the model
    print(f"{sample_id} upscaled to {args.size}², model input {window[0]}×{window[1]}")
    print(f"{'geometry':<24}{'windows':>9}{'dice':>9}{'seconds':>10}{'time / resize':>15}")
    baseline = None
    for name, sliding, scale in geometries:
        start = time.perf_counter()
        (probability,) = predict(model, [big], batch_size=32, sliding_window=sliding, scale=scale or 1.0)
        seconds = time.perf_counter() - start
        baseline = baseline or seconds
        side = round(args.size * scale) if sliding else window[0]
        windows = len(window_starts(max(side, window[0]), window[0], 0.5)) ** 2
        dice = segmentation_scores(probabilities_to_labels(probability) > 0, truth)["dice"]
        print(f"{name:<24}{windows:>9}{dice:>9.4f}{seconds:>10.2f}{seconds / baseline:>14.1f}×")

if __name__ == "__main__":
    main()
