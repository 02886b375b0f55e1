"""Evaluation figures: the best, median and worst cases."""

import pandas as pd

from tfseg.evaluation.figures import pick_best_median_worst


def test_best_median_worst_picks_the_right_ids():
    per_image = pd.DataFrame({"id": ["a", "b", "c", "d", "e"], "dice": [0.7, 0.95, 0.2, 0.8, 0.95]})
    picks = pick_best_median_worst(per_image)
    assert picks == [("best", "b", 0.95), ("median", "d", 0.8), ("worst", "c", 0.2)]  # tie b/e: first id
    even = pd.DataFrame({"id": [3, 1, 2, 4], "dice_2": [0.1, 0.4, 0.3, 0.2]})
    assert [pick[1] for pick in pick_best_median_worst(even, "dice_2")] == ["1", "4", "3"]
