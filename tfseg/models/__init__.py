"""Model builders behind one registry: `build(name, ...)` and `names()`.

Every builder takes `(input_shape, classes, activation, **options)` and returns a plain
functional `keras.Model` whose last layer is float32. Models take images scaled to
[0, 1] and, by default, output probabilities (sigmoid for one class, softmax for K).
"""

from __future__ import annotations

from typing import Any, Callable

import keras

from tfseg.errors import TfsegError
from tfseg.models.unet import build_unet

_REGISTRY: dict[str, Callable[..., keras.Model]] = {
    "unet": build_unet,
}


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def build(name: str, input_shape: tuple[int, int, int], classes: int = 1, **options: Any) -> keras.Model:
    """Builds the registered model `name`.

    Args:
        name: str. One of `names()`.
        input_shape: (height, width, channels).
        classes: int. 1 for binary, K for K classes. Defaults to 1.
        **options: the builder's keyword arguments (see each `build_*` docstring).

    Raises:
        TfsegError: unknown name (the message lists the valid ones) or unknown option.
    """
    if name not in _REGISTRY:
        raise TfsegError(f"unknown model {name!r}; valid: {', '.join(names())}")
    builder = _REGISTRY[name]
    try:
        return builder(tuple(input_shape), classes, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TfsegError(f"model {name!r}: {error}") from None
        raise
