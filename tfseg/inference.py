"""Prediction on images of any size: resize to the model's input, predict, resize back."""

from __future__ import annotations

from typing import Sequence

import cv2
import keras
import numpy as np

from tfseg.data.io import to_model_input


def model_input_size(model: keras.Model) -> tuple[int, int]:
    """The (height, width) a model was built for."""
    height, width = model.input_shape[1:3]
    return int(height), int(width)


def predict(model: keras.Model, images: Sequence[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
    """Predicts probability maps at each image's own resolution.

    Each (H, W, C) image is resized to the model's input size and scaled to [0, 1]
    exactly as in training (`tfseg.data.to_model_input`); the output probabilities are
    resized back to (H, W) bilinearly.

    Args:
        model: keras.Model. A tfseg model (probability outputs).
        images: sequence of (H, W, C) uint8 or uint16 arrays, C = the model's channels.
        batch_size: int. Images per forward pass. Defaults to 8.

    Returns:
        One float32 array (H, W, classes) per image.
    """
    size = model_input_size(model)
    outputs: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = np.stack([to_model_input(image, size) for image in chunk])
        probabilities = np.asarray(model.predict_on_batch(batch), dtype=np.float32)
        for image, probability in zip(chunk, probabilities):
            height, width = image.shape[:2]
            classes = probability.shape[-1]
            if (height, width) != size:
                probability = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
            outputs.append(probability.reshape(height, width, classes))
    return outputs


def probabilities_to_labels(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(H, W, C) probabilities → (H, W) labels: threshold for C == 1, arg-max otherwise."""
    if probabilities.shape[-1] == 1:
        return (probabilities[..., 0] > threshold).astype(np.uint8)
    return np.argmax(probabilities, axis=-1).astype(np.uint8)
