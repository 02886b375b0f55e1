"""Post-processing specs: parsing, each step on hand-made label maps, chains, and the model
card's post-processing and test-time augmentation carried through export and prediction."""

import json
import shutil

import cv2
import numpy as np
import pytest
import scipy.ndimage

from tests.conftest import cli_in_fresh_python, run_config
from tfseg.errors import TfsegError
from tfseg.export.card import card_postprocess, card_tta, model_card
from tfseg.inference import check_postprocess, fill_holes, largest_component, parse_postprocess, postprocess

EXPECTED = "expected none, or steps joined by + of largest-component, fill-holes, remove-small=N (N >= 1 pixels)"


def _map(rows: str) -> np.ndarray:
    """A uint8 label map drawn as text: one row per line, `.` for 0, digits for labels."""
    return np.array([[0 if c == "." else int(c) for c in line.strip()] for line in rows.strip().splitlines()], np.uint8)


@pytest.mark.parametrize("spec, steps", [
    ("none", ()),
    ("largest-component", (("largest-component", None),)),
    ("remove-small=20+fill-holes", (("remove-small", 20), ("fill-holes", None))),
    ("fill-holes+remove-small=1+largest-component", (("fill-holes", None), ("remove-small", 1), ("largest-component", None))),
])
def test_a_spec_is_read_as_its_steps_in_order(spec, steps):
    assert parse_postprocess(spec) == steps
    check_postprocess(spec)


@pytest.mark.parametrize("spec", [
    "", "largest", "remove-small", "remove-small=0", "remove-small=-3", "remove-small=2.5", "remove-small=N",
    "fill-holes=3", "none+fill-holes", "fill-holes+", "fill-holes + largest-component", "Fill-Holes", None,
])
def test_anything_else_is_one_line_naming_the_option(spec):
    with pytest.raises(TfsegError) as raised:
        parse_postprocess(spec)
    assert str(raised.value) == f"--postprocess {spec!r}: {EXPECTED}"
    with pytest.raises(TfsegError, match="--postprocess"):
        postprocess(np.zeros((4, 4), np.uint8), spec)


def test_none_returns_the_labels_and_an_empty_map_stays_empty():
    labels = _map("1.\n.2")
    assert postprocess(labels, "none") is labels
    empty = np.zeros((5, 5), np.uint8)
    assert not postprocess(empty, "largest-component+fill-holes+remove-small=2").any()
    assert not largest_component(empty > 0).any() and not fill_holes(empty > 0).any()


def test_the_model_card_records_postprocess_and_tta_and_old_cards_read_as_none():
    card = model_card(run_config(), "val_iou", 0.9, 3, postprocess="remove-small=20+fill-holes", tta="flip")
    assert (card_postprocess(card), card_tta(card)) == ("remove-small=20+fill-holes", "flip")
    plain = model_card(run_config(), "val_iou", 0.9, 3)
    assert (plain["postprocess"], plain["tta"]) == ("none", "none")
    assert card_postprocess({"threshold": 0.5}) == card_tta({"threshold": 0.5}) == card_tta(None) == "none"


def test_fill_holes_fills_only_enclosed_background_with_the_enclosing_label():
    labels = _map("""
        ........
        .11111..
        .1...1..
        .1.2.1..
        .11111..
        ......3.
        .....3.3
        .......3
    """)  # class 1 encloses background and a 2; class 3's gap is open to the border
    filled = postprocess(labels, "fill-holes")
    expected = labels.copy()
    expected[2, 2:5] = 1
    expected[3, [2, 4]] = 1  # the 2 stays 2: a hole takes the label only where it was background
    np.testing.assert_array_equal(filled, expected)
    assert filled.dtype == np.uint8 and labels[2, 2] == 0  # the input is not changed
    # 8-connected regions: a diagonal ring encloses its centre (the background joins the border 4-connected only)
    np.testing.assert_array_equal(postprocess(_map(".1.\n1.1\n.1."), "fill-holes"), _map(".1.\n111\n.1."))


def test_remove_small_drops_components_below_n_pixels_per_class():
    labels = _map("""
        11..2.
        1...2.
        ......
        ..1..2
        .1..22
        ......
    """)  # class 1: 3 pixels and a diagonal pair (one 8-connected component of 2); class 2: 2 and 3
    np.testing.assert_array_equal(postprocess(labels, "remove-small=1"), labels)
    np.testing.assert_array_equal(postprocess(labels, "remove-small=2"), labels)
    np.testing.assert_array_equal(postprocess(labels, "remove-small=3"), _map("""
        11....
        1.....
        ......
        .....2
        ....22
        ......
    """))
    assert not postprocess(labels, "remove-small=4").any()
    binary = (labels > 0).astype(np.uint8)  # binary: the same four components, none touching another
    assert postprocess(binary, "remove-small=3").sum() == 6


def test_largest_component_keeps_one_component_per_class():
    labels = _map("""
        11...2
        11....
        ......
        ...111
        2..111
        2..111
    """)
    np.testing.assert_array_equal(postprocess(labels, "largest-component"), _map("""
        ......
        ......
        ......
        ...111
        2..111
        2..111
    """))


def test_steps_apply_left_to_right():
    labels = _map("""
        .......
        .111...
        .1.1...
        .111...
        .......
        .....11
        .....11
    """)  # a ring of 8 pixels around a 1-pixel hole, and a 4-pixel square
    np.testing.assert_array_equal(postprocess(labels, "remove-small=3+fill-holes"), _map("""
        .......
        .111...
        .111...
        .111...
        .......
        .....11
        .....11
    """))
    assert postprocess(labels, "remove-small=9+fill-holes").sum() == 0  # the 8-pixel ring goes before it is filled
    assert postprocess(labels, "fill-holes+remove-small=9").sum() == 9  # filled first, it has 9 pixels


def test_labels_need_not_be_consecutive():
    rng = np.random.default_rng(0)
    labels = scipy.ndimage.median_filter(rng.integers(0, 3, (256, 256)).astype(np.uint8), 5)
    labels[labels == 1] = 7  # labels need not be consecutive
    result = postprocess(labels, "remove-small=20+fill-holes+largest-component")
    assert set(np.unique(result)) <= {0, 2, 7}
    for label in (2, 7):
        _, count = scipy.ndimage.label(result == label, np.ones((3, 3)))
        assert count == 1


def test_a_bad_spec_is_refused_as_the_flags_are_parsed():
    exits, modules = cli_in_fresh_python(["predict", "RUN", "x.png", "--postprocess", "remove-small=5+holes"])
    assert exits == [(2, f"tfseg predict: error: argument --postprocess: {EXPECTED}, got 'remove-small=5+holes'")]
    assert modules == []


def _components(mask: np.ndarray) -> int:
    return scipy.ndimage.label(mask > 0, np.ones((3, 3)))[1]


@pytest.mark.slow
def test_predict_applies_the_model_cards_postprocess_and_tta_unless_told_otherwise(binary_run, tiny_dataset, tmp_path):
    import tfseg
    from tfseg.cli import export_main, predict_main
    from tfseg.export import export_run, read_model_card
    from tfseg.export.loading import load_run_model
    from tfseg.inference import predict
    from tfseg.run import RunDir, read_config

    run = shutil.copytree(binary_run, tmp_path / "run")
    images = sorted((tiny_dataset / "images").iterdir())[:6]
    probabilities = predict(load_run_model(run), [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)[..., None] for p in images])
    threshold = float(np.median(np.concatenate([p.ravel() for p in probabilities])))  # the untrained model's: patchy
    spec = "remove-small=2+largest-component+fill-holes"
    export_run(RunDir(run), read_config(run), threshold, "fixed", postprocess=spec, tta="flip")
    card = read_model_card(run)
    assert (card["postprocess"], card["tta"]) == (spec, "flip")

    folder = tmp_path / "images"
    folder.mkdir()
    for path in images:
        shutil.copy(path, folder)
    runs = {"card": [], "given": ["--postprocess", spec, "--tta", "flip"], "unprocessed": ["--postprocess", "none"],
            "plain": ["--postprocess", "none", "--tta", "none"]}
    for name, flags in runs.items():
        assert predict_main([str(run), str(folder), "--out", str(tmp_path / name), *flags]) == 0, name
    masks = {name: {p.name: cv2.imread(str(tmp_path / name / "masks" / p.name), cv2.IMREAD_UNCHANGED) for p in images}
             for name in runs}
    for image in masks["card"]:
        np.testing.assert_array_equal(masks["card"][image], masks["given"][image])
        np.testing.assert_array_equal(masks["card"][image], postprocess(masks["unprocessed"][image] // 255, spec) * 255)
        assert _components(masks["card"][image]) <= 1
    assert any(_components(mask) > 1 for mask in masks["unprocessed"].values())  # --postprocess none overrode the card
    assert any((masks["unprocessed"][image] != masks["plain"][image]).any() for image in masks["plain"])  # the card's flip TTA

    from_api = tfseg.predict(run, [str(p) for p in images])  # the Python API reads the card too
    assert all((mask * 255 == masks["card"][p.name]).all() for mask, p in zip(from_api, images))

    assert export_main([str(run)]) == 0  # exporting again keeps the card's choices
    assert (read_model_card(run)["postprocess"], read_model_card(run)["tta"]) == (spec, "flip")
    assert json.loads((run / "export" / "model_card.json").read_text())["threshold"] == pytest.approx(threshold)


def test_export_refuses_a_postprocess_prediction_cannot_apply(binary_run):
    from tfseg.export import export_run
    from tfseg.run import RunDir, read_config

    with pytest.raises(TfsegError, match="--postprocess 'biggest'"):
        export_run(RunDir(binary_run), read_config(binary_run), postprocess="biggest")
    with pytest.raises(TfsegError, match="--tta 'mirror'"):
        export_run(RunDir(binary_run), read_config(binary_run), tta="mirror")
    assert not (binary_run / "export").exists()
