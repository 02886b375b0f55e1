"""The report pages (tfseg.pages): evaluate.py's report.html, compare.py's study page and
predict.py's index.html, made through their command lines, parsed strictly, searched for
network addresses, and driven in headless Chromium (Debian's `chromium`; .ci/run installs it)."""

import re
import shutil
from pathlib import Path

import html5lib
import pandas as pd
import pytest

from tfseg.cli import compare_main, evaluate_main, predict_main

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.slow  # the pages' fixture evaluates, predicts and renders a study: about 10 s


@pytest.fixture(scope="module")
def pages(binary_run, multiclass_run, tiny_dataset, tmp_path_factory):
    """Each kind of page, made by its command: a binary and a multi-class evaluation, predictions
    with overlays, and the committed study lung_models without and with two rows' per-image scores."""
    work = tmp_path_factory.mktemp("pages")
    assert evaluate_main([str(binary_run), "--out", str(work / "binary")]) == 0
    assert evaluate_main([str(multiclass_run), "--out", str(work / "multi")]) == 0
    assert predict_main([str(binary_run), str(tiny_dataset / "images"), "--out", str(work / "pred"), "--overlays"]) == 0
    studies = work / "studies"
    shutil.copytree(ROOT / "studies" / "lung_models", studies / "lung_models")
    study_file = str(ROOT / "configs" / "studies" / "lung_models.yaml")
    assert compare_main([study_file, "--out", str(studies), "--render"]) == 0
    (studies / "lung_models" / "report.html").rename(work / "study_without_pair.html")
    per_image = pd.read_csv(work / "binary" / "per_image.csv", dtype={"id": str})
    (studies / "lung_models" / "per_image").mkdir()
    per_image.to_csv(studies / "lung_models" / "per_image" / "unet-bce+jaccard-s42.csv", index=False)
    per_image.assign(dice=per_image["dice"].iloc[::-1].to_numpy()).to_csv(
        studies / "lung_models" / "per_image" / "linknet-bce+jaccard-s42.csv", index=False)
    assert compare_main([study_file, "--out", str(studies), "--render", "--pair", "unet-bce+jaccard-s42",
                         "linknet-bce+jaccard-s42"]) == 0
    return {"binary": work / "binary" / "report.html", "multi": work / "multi" / "report.html",
            "prediction": work / "pred" / "index.html", "study": studies / "lung_models" / "report.html",
            "study_without_pair": work / "study_without_pair.html"}


def test_pages_parse_strictly_and_load_nothing_from_the_network(pages):
    for path in pages.values():
        text = path.read_text()
        html5lib.HTMLParser(strict=True).parse(text)  # raises at the first parse error
        assert not re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.IGNORECASE), path
        assert not re.findall(r"https?://", text), path
    binary = pages["binary"].parent
    linked = re.findall(r'(?:src|href)="([^"]+)"', pages["binary"].read_text())
    assert all((binary / link).is_file() for link in linked if not link.startswith("data:"))


def test_study_page_without_per_image_scores_says_how_to_get_them(pages):
    text = pages["study_without_pair"].read_text()
    assert "Run the cells again" in text and 'id="pair"' not in text and "data:image/png;base64," in text
    assert text.count("<tr>") == 1 + 14  # the heading and one row per cell of lung_models


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (Debian's package, driven by playwright)."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def _open(browser, path: Path):
    """A page of `browser` showing the file `path`; it fails the test on any JavaScript error."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert not errors
    return page


def _shown(page, value: str = "dice") -> list[tuple[str, float]]:
    """(title, value) of the gallery's visible cards, in their order on the page."""
    return page.eval_on_selector_all(
        ".card:not([hidden])", f"cards => cards.map(card => [card.dataset.title, parseFloat(card.getAttribute('data-{value}'))])")


def test_evaluation_page_shows_every_image_worst_first_sorts_and_filters(pages, browser, tmp_path):
    page = _open(browser, pages["binary"])
    per_image = pd.read_csv(pages["binary"].parent / "per_image.csv", dtype={"id": str})
    shown = _shown(page)
    assert sorted(title for title, _ in shown) == sorted(per_image["id"])  # every image of the split
    assert [dice for _, dice in shown] == pytest.approx(sorted(per_image["dice"]), abs=1e-5)  # worst first (csv: 6 digits)
    assert all(page.eval_on_selector_all(".card img", "images => images.map(image => image.complete && image.naturalWidth > 0)"))

    page.select_option("[data-control=sort-order]", "descending")
    assert [dice for _, dice in _shown(page)] == pytest.approx(sorted(per_image["dice"], reverse=True), abs=1e-5)
    page.select_option("[data-control=sort-key]", "hd95")
    assert [value for _, value in _shown(page, "hd95")] == pytest.approx(sorted(per_image["hd95"], reverse=True), abs=1e-5)

    low = float(per_image["dice"].median())
    page.select_option("[data-control=range-key]", "dice")
    page.fill("[data-control=range-low]", str(low))
    kept = sorted(per_image.loc[per_image["dice"] >= low, "id"])
    assert sorted(title for title, _ in _shown(page)) == kept and 0 < len(kept) < len(per_image)
    assert page.text_content("[data-control=shown]") == f"{len(kept)} of {len(per_image)}"
    page.screenshot(path=tmp_path / "evaluation.png", full_page=True)
    assert (tmp_path / "evaluation.png").stat().st_size > 10_000


def test_multiclass_evaluation_page_filters_by_class(pages, browser):
    page = _open(browser, pages["multi"])
    per_image = pd.read_csv(pages["multi"].parent / "per_image.csv", dtype={"id": str})
    assert len(_shown(page)) == 2 * len(per_image)  # one picture per image and class
    page.select_option("[data-control=group]", "class 2")
    shown = _shown(page)
    assert sorted(title for title, _ in shown) == sorted(per_image["id"])
    assert [dice for _, dice in shown] == pytest.approx(sorted(per_image["dice_2"]), abs=1e-5)
    assert set(page.eval_on_selector_all(".card:not([hidden])", "cards => cards.map(card => card.dataset.group)")) == {"class 2"}


def test_prediction_page_shows_every_overlay_with_its_areas(pages, browser, tmp_path):
    page = _open(browser, pages["prediction"])
    areas = pd.read_csv(pages["prediction"].parent / "areas.csv")
    shown = _shown(page, "foreground_pixels")
    assert sorted(title for title, _ in shown) == sorted(Path(image).stem for image in areas["image"])
    page.select_option("[data-control=sort-key]", "foreground_pixels")
    page.select_option("[data-control=sort-order]", "descending")
    assert [area for _, area in _shown(page, "foreground_pixels")] == sorted(areas["foreground_pixels"], reverse=True)
    page.screenshot(path=tmp_path / "prediction.png")


def test_study_page_sorts_its_table_and_sets_two_rows_side_by_side(pages, browser, tmp_path):
    page = _open(browser, pages["study"])
    results = pd.read_csv(ROOT / "studies" / "lung_models" / "results.csv")
    page.click("#results th:has-text('test Dice')")  # ascending
    column = page.eval_on_selector_all("#results thead th", "headings => headings.map(h => h.textContent)").index("test Dice")
    values = page.eval_on_selector_all(f"#results tbody td:nth-child({column + 1})",
                                       "cells => cells.map(cell => parseFloat(cell.dataset.value))")
    assert values == pytest.approx(sorted(results["test_dice"]), abs=1e-6)
    differences = page.eval_on_selector_all("#pair tbody td:nth-child(4)", "cells => cells.map(cell => parseFloat(cell.dataset.value))")
    per_image = pd.read_csv(pages["binary"].parent / "per_image.csv")
    assert len(differences) == len(per_image)
    expected = abs(per_image["dice"] - per_image["dice"].iloc[::-1].to_numpy())
    assert [abs(d) for d in differences] == pytest.approx(sorted(expected, reverse=True), abs=1e-5)
    page.screenshot(path=tmp_path / "study.png", full_page=True)
