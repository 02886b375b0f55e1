#!/usr/bin/env python
"""Run a study: `python compare.py configs/studies/ph2_losses.yaml [--cells ...]` (see --help)."""

import sys

from tfseg.cli import compare_main

if __name__ == "__main__":
    sys.exit(compare_main())
