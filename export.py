#!/usr/bin/env python
"""Export a finished run again, in more formats: `python export.py RUN --format onnx tflite-int8 bioimageio` (see --help)."""

import sys

from tfseg.cli import export_main

if __name__ == "__main__":
    sys.exit(export_main())
