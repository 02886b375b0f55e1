"""The albumentations engine (`data.engine: albumentations`): the same named transforms, run by
albumentations 2.0.x per image inside `tf.numpy_function`.

albumentations is an optional dependency (`pip install "tfseg[albumentations]"`); this module is
imported only when the engine is selected, so `import tfseg` never imports it.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from tfseg.transforms import Transform
from tfseg.errors import TfsegError


def _import_albumentations():
    try:
        import albumentations
    except ImportError:
        raise TfsegError(
            'data.engine: albumentations is not installed; pip install "tfseg[albumentations]" or use engine: tf'
        ) from None
    return albumentations


def _to_albumentations(A: Any, transform: Transform, height: int, width: int) -> Any:
    """One tfseg `Transform` → the albumentations transform with the same meaning."""
    params = transform.params
    constant = {"border_mode": cv2.BORDER_CONSTANT, "fill": 0, "fill_mask": 0}
    builders = {
        "horizontal_flip": lambda: A.HorizontalFlip(p=transform.p),
        "vertical_flip": lambda: A.VerticalFlip(p=transform.p),
        "rotate90": lambda: A.RandomRotate90(p=transform.p),
        "transpose": lambda: A.Transpose(p=transform.p),
        "affine": lambda: A.Affine(
            scale=tuple(params["scale"]),
            keep_ratio=True,
            translate_percent={"x": tuple(params["translate"]), "y": tuple(params["translate"])},
            rotate=tuple(params["rotate"]),
            shear={"x": tuple(params["shear"]), "y": tuple(params["shear"])},
            p=transform.p,
            **constant,
        ),
        "perspective": lambda: A.Perspective(scale=tuple(params["scale"]), keep_size=True, p=transform.p, **constant),
        "random_resized_crop": lambda: A.RandomResizedCrop(
            size=(height, width), scale=tuple(params["scale"]), ratio=tuple(params["ratio"]), p=transform.p
        ),
        "elastic": lambda: A.ElasticTransform(alpha=params["alpha"], sigma=params["sigma"], p=transform.p, **constant),
        "coarse_dropout": lambda: A.CoarseDropout(
            num_holes_range=tuple(int(v) for v in params["holes"]),
            hole_height_range=tuple(params["size"]),
            hole_width_range=tuple(params["size"]),
            fill=0,
            p=transform.p,
        ),
        "brightness_contrast": lambda: A.RandomBrightnessContrast(
            brightness_limit=params["brightness"], contrast_limit=params["contrast"], p=transform.p
        ),
        "gamma": lambda: A.RandomGamma(gamma_limit=tuple(params["gamma"]), p=transform.p),
        "gaussian_noise": lambda: A.GaussNoise(std_range=tuple(params["std"]), p=transform.p),
        "gaussian_blur": lambda: A.GaussianBlur(blur_limit=0, sigma_limit=tuple(params["sigma"]), p=transform.p),
        "clahe": lambda: A.CLAHE(
            clip_limit=tuple(params["clip_limit"]), tile_grid_size=(params["tile_grid"], params["tile_grid"]), p=transform.p
        ),
    }
    return builders[transform.name]()


class AlbumentationsAugmenter:
    """Applies a transform list to one image/label pair with albumentations, reproducibly by seed.

    Each thread of the tf.data map keeps its own `albumentations.Compose`, re-seeded per call,
    so the output depends only on the seed handed in, not on thread scheduling.

    Args:
        transforms: list of `Transform`.
        height: int. Image height (for `random_resized_crop`'s output size).
        width: int. Image width.
        clip: bool. Clip the augmented image to [0, 1], the range of scaled images (`data.normalize:
            scale`); z-scored images, which only move, are left as they are. Defaults to True.
    """

    def __init__(self, transforms: list[Transform], height: int, width: int, clip: bool = True):
        self.A = _import_albumentations()
        self.transforms = transforms
        self.height = height
        self.width = width
        self.clip = clip
        self._local = threading.local()

    def _compose(self) -> Any:
        compose = getattr(self._local, "compose", None)
        if compose is None:
            compose = self.A.Compose([_to_albumentations(self.A, t, self.height, self.width) for t in self.transforms])
            self._local.compose = compose
        return compose

    def __call__(self, image: np.ndarray, labels: np.ndarray, seed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Augments image (H,W,C) float32 and labels (H,W,1) uint8; returns both."""
        compose = self._compose()
        compose.set_random_seed(int(seed) % (2**32))
        result = compose(image=image, mask=labels[..., 0])
        augmented = np.clip(result["image"], 0.0, 1.0) if self.clip else result["image"]
        augmented = augmented.astype(np.float32).reshape(image.shape)
        return augmented, result["mask"].astype(labels.dtype)[..., None]
