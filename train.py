#!/usr/bin/env python
"""Train a segmentation model: `python train.py --model unet [--data DIR] ...` (see --help)."""

import sys

from tfseg.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
