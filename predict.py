#!/usr/bin/env python
"""Predict masks: `python predict.py RUN_DIR_OR_MODEL INPUT... --out DIR [--sliding-window] [--tta flip]`."""

import sys

from tfseg.cli import predict_main

if __name__ == "__main__":
    sys.exit(predict_main())
