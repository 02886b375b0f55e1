"""Building blocks: the input size check against the output stride."""

import pytest

from tfseg import models
from tfseg.errors import TfsegError


def test_input_size_not_multiple_of_stride():
    with pytest.raises(TfsegError, match="input height 100 is not a multiple of the output stride 16; nearest valid sizes: 96 or 112"):
        models.build("unet", (100, 64, 1))
