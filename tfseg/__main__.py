"""`python -m tfseg ...`: the `tfseg` command (`tfseg.cli.main`)."""

import sys

from tfseg.cli import main

sys.exit(main())
