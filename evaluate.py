#!/usr/bin/env python
"""Evaluate a trained run: `python evaluate.py RUN_DIR [--data DIR] [--split test]`."""

import sys

from tfseg.cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main())
