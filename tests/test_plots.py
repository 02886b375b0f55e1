"""Plots: the outcome overlay's colours."""

import numpy as np

from tfseg.plots import FALSE_NEGATIVE, FALSE_POSITIVE, TRUE_POSITIVE, outcome_overlay


def test_outcome_overlay_colours_on_a_hand_made_case():
    image = np.full((2, 2, 1), 100, np.uint8)
    pred = np.array([[1, 1], [0, 0]], bool)
    truth = np.array([[1, 0], [1, 0]], bool)
    solid = outcome_overlay(image, pred, truth, alpha=1.0)
    assert tuple(solid[0, 0]) == TRUE_POSITIVE == (255, 255, 0)
    assert tuple(solid[0, 1]) == FALSE_POSITIVE == (255, 0, 0)
    assert tuple(solid[1, 0]) == FALSE_NEGATIVE == (0, 255, 0)
    assert tuple(solid[1, 1]) == (100, 100, 100)  # true negative: the image itself
    blended = outcome_overlay(image, pred, truth, alpha=0.5)
    assert tuple(blended[0, 1]) == (178, 50, 50) and tuple(blended[1, 1]) == (100, 100, 100)
    rgb16 = outcome_overlay(np.full((2, 2, 3), 65535, np.uint16), pred, truth, alpha=0.0)
    assert (rgb16 == 255).all()
