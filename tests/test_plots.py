"""Plots: the outcome overlay's colours; the outline overlay's outlines and legend; the training curves' epoch axis."""

import numpy as np
import pandas as pd

from tfseg.plots import (
    FALSE_NEGATIVE, FALSE_POSITIVE, TRUE_POSITIVE, class_colour, history_figure, outcome_overlay, outline_overlay,
)


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


def test_outline_overlay_outlines_each_class_and_names_it_in_a_legend():
    image = np.full((120, 160), 100, np.uint8)
    labels = np.zeros((120, 160), np.uint8)
    labels[40:80, 60:120] = 1
    labels[90:110, 130:150] = 2
    overlay = outline_overlay(image, labels, ["lung", "heart"])
    assert overlay.shape == (120, 160, 3) and overlay.dtype == np.uint8
    blue, orange = class_colour(1), class_colour(2)
    assert blue == (31, 119, 180) and orange == (255, 127, 14)  # tab10
    square = np.zeros((120, 160), bool)
    square[40:80, 60:120] = True
    boundary = square & ~np.pad(square[1:-1, 1:-1] & square[:-2, 1:-1] & square[2:, 1:-1] & square[1:-1, :-2]
                                & square[1:-1, 2:], 1)
    assert (overlay[boundary] == blue).all()  # every boundary pixel of the square, 1 px thick
    assert (overlay[41:79, 61:119] == 100).all()  # its inside keeps the image
    assert (overlay[90, 130:150] == orange).all() and (overlay[91:109, 131:149] == 100).all()
    assert (overlay[60:, :50] == 100).all()  # away from the outlines and the legend: the image

    # the legend, top left: a darkened box, each class's swatch in order, the names in white
    box = (overlay != 100).any(axis=-1) & ~boundary
    box[85:, 125:] = False
    rows, columns = np.nonzero(box)
    assert rows.min() == 0 and columns.min() == 0 and rows.max() < 40 and columns.max() < 60
    legend = overlay[: rows.max() + 1, : columns.max() + 1]
    assert (legend == 40).all(axis=-1).any()  # 100 darkened to 40
    swatches = [tuple(colour) for colour in legend.reshape(-1, 3) if tuple(colour) in (blue, orange)]
    assert swatches and swatches[0] == blue and swatches[-1] == orange
    assert (legend.min(axis=-1) > 150).sum() > 20  # the names' white (anti-aliased) strokes
    wider = outline_overlay(image, labels, ["left lung and right lung", "heart"])
    assert (wider[:20] != 100).any(axis=-1).sum(axis=0).nonzero()[0].max() > columns.max() + 30  # the text is the names


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
