"""The albumentations engine is optional: tfseg imports it only when data.engine asks for it.
Its transforms are compared with the tf engine's in tests/data/test_augment.py."""

import subprocess
import sys


def test_importing_tfseg_does_not_import_albumentations():
    code = "import sys, tfseg, tfseg.data, tfseg.config; print('albumentations' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-1000:]
    assert result.stdout.strip() == "False"
