"""Plots: the outcome overlay's colours, the training curves' epoch axis."""

import numpy as np
import pandas as pd

from tfseg.plots import FALSE_NEGATIVE, FALSE_POSITIVE, TRUE_POSITIVE, history_figure, outcome_overlay


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


def test_curves_number_epochs_from_1_with_whole_ticks():
    for epochs in (1, 3, 40):
        history = pd.DataFrame({"epoch": range(1, epochs + 1), "loss": np.linspace(1, 0.5, epochs),
                                "val_loss": np.linspace(1.1, 0.6, epochs)})
        figure = history_figure(history)
        axis = figure.axes[0]
        low, high = axis.get_xlim()
        ticks = [tick for tick in axis.get_xticks() if low <= tick <= high]
        assert ticks and all(float(tick).is_integer() for tick in ticks), (epochs, ticks)
        assert min(axis.lines[0].get_xdata()) == 1
        if epochs == 1:
            assert ticks == [1]
