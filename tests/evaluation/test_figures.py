"""Evaluation figures: the best, median and worst cases."""

import pandas as pd

from tfseg.evaluation.figures import pick_best_median_worst


def test_best_median_worst_picks_the_right_ids():
    per_image = pd.DataFrame({"id": ["a", "b", "c", "d", "e"], "dice": [0.7, 0.95, 0.2, 0.8, 0.95]})
    picks = pick_best_median_worst(per_image)
    assert picks == [("best", "b", 0.95), ("median", "d", 0.8), ("worst", "c", 0.2)]  # tie b/e: first id
    even = pd.DataFrame({"id": [3, 1, 2, 4], "dice_2": [0.1, 0.4, 0.3, 0.2]})
    assert [pick[1] for pick in pick_best_median_worst(even, "dice_2")] == ["1", "4", "3"]


def test_cases_figure_outlines_truth_and_prediction_with_a_legend():
    import matplotlib.colors
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.contour import ContourSet

    from tfseg.evaluation.figures import PREDICTION_OUTLINE, TRUTH_OUTLINE, Case, cases_figure

    truth = np.zeros((40, 50), np.uint8)
    truth[10:30, 5:25] = 2  # the class the case was picked for
    truth[0:5, 40:50] = 1  # another class: not outlined
    pred = np.zeros_like(truth)
    pred[12:34, 8:30] = 2
    case = Case("worst", "img3", 0.61, np.full((40, 50), 90, np.uint8), truth, pred, label=2)
    fig = cases_figure([case])
    try:
        (legend,) = fig.legends
        assert [text.get_text() for text in legend.get_texts()] == [
            "ground truth", "prediction", "true positive", "false positive", "false negative"]
        image, outlines, outcome = fig.axes
        assert [ax.get_title() for ax in fig.axes] == ["worst for class 2: img3", "ground truth and prediction",
                                                       "dice_2 = 0.610"]
        contours = [artist for artist in outlines.get_children() if isinstance(artist, ContourSet)]
        assert not [artist for artist in image.get_children() + outcome.get_children() if isinstance(artist, ContourSet)]
        for contour, style, (top, bottom, left, right) in zip(contours, (TRUTH_OUTLINE, PREDICTION_OUTLINE),
                                                              ((10, 30, 5, 25), (12, 34, 8, 30))):
            assert matplotlib.colors.to_hex(contour.get_edgecolor()[0]) == style["colors"]
            (path,) = contour.get_paths()  # one closed line: the class-2 region only
            x, y = path.vertices[:, 0], path.vertices[:, 1]
            # the contour runs between the pixels in and out: half a pixel outside the region's pixel centres
            assert (x.min(), x.max(), y.min(), y.max()) == (left - 0.5, right - 0.5, top - 0.5, bottom - 0.5)
        assert contours[0].get_linestyle() != contours[1].get_linestyle()
    finally:
        plt.close(fig)
