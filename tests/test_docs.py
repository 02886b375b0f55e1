"""The documentation: its examples run, its commands are tested or marked, the site builds.

Every ```bash block in README.md and docs/*.md is preceded by a marker line:

    <!-- tested: tests/test_cli.py::test_run_directory_contents -->   a test that runs it
    <!-- tested: tests/a.py::test_x, tests/b.py::test_y -->           (or the same with tiny options)
    <!-- needs: real data ($DATA) -->  /  <!-- needs: a GPU -->  /  <!-- needs: network -->

When a test file moves, run the sed command that `test_every_bash_block_is_marked` prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NEEDS = ("real data ($DATA)", "a GPU", "network")
MARKER = re.compile(r"^<!-- (tested|needs): (.+?) -->$")
PAGES = ("index", "data", "augmentation", "models", "training", "planning", "speed", "evaluation", "studies", "export", "bioimageio",
         "losses-metrics",
         "results", "extending", "options", "python-api", "api")


def marked_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def code_blocks(path: Path, language: str) -> list[tuple[int, str, str]]:
    """(line number of the opening fence, the line before it, the code) of each block in `language`."""
    lines = path.read_text().splitlines()
    blocks, start = [], None
    for number, line in enumerate(lines):
        fence = line.strip()
        if start is None and fence.startswith("```"):
            start, kind = number, fence[3:].strip()
        elif start is not None and fence == "```":
            if kind == language:
                previous = lines[start - 1].strip() if start else ""
                blocks.append((start + 1, previous, textwrap.dedent("\n".join(lines[start + 1:number]))))
            start = None
    assert start is None, f"{path.name}: unclosed code block at line {start + 1}"
    return blocks


def marker_problems() -> list[str]:
    """The problems of the markers of the bash blocks of README.md and docs/*.md."""
    problems = []
    for path in marked_files():
        for line, previous, code in code_blocks(path, "bash"):
            where = f"{path.relative_to(ROOT)}:{line}"
            match = MARKER.match(previous)
            if not match:
                problems.append(f"{where}: no <!-- tested: ... --> or <!-- needs: ... --> line before the bash block")
                continue
            kind, value = match.groups()
            if kind == "needs":
                if value not in NEEDS:
                    problems.append(f"{where}: needs {value!r}; expected one of {NEEDS}")
                continue
            for reference in (part.strip() for part in value.split(",")):
                problems += reference_problems(where, reference)
    return problems


def reference_problems(where: str, reference: str) -> list[str]:
    """Checks `tests/<file>.py::<test_name>`: the file exists and defines the test."""
    if "::" not in reference:
        return [f"{where}: {reference!r} is not tests/<file>.py::<test_name>"]
    file, name = reference.split("::", 1)
    name = name.split("[", 1)[0]  # a parametrized id names the function before "["
    path = ROOT / file
    if not path.is_file():
        moved = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob(Path(file).name))
        hint = (f"; it is now {moved[0]}: sed -i 's#{file}::#{moved[0]}::#' README.md docs/*.md"
                if len(moved) == 1 else "")
        return [f"{where}: {file} does not exist{hint}"]
    if not re.search(rf"^\s*(async\s+)?def {re.escape(name)}\(", path.read_text(), re.MULTILINE):
        return [f"{where}: {path.relative_to(ROOT)} has no test function {name}"]
    return []


def test_every_bash_block_is_marked():
    problems = marker_problems()
    assert not problems, "\n".join(problems)


def test_marker_check_catches_missing_and_stale_markers(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_real.py").write_text("def test_exists():\n    pass\n")
    readme.write_text(textwrap.dedent("""\
        <!-- tested: tests/test_real.py::test_exists -->
        ```bash
        ok
        ```
        ```bash
        unmarked
        ```
        <!-- tested: tests/test_real.py::test_gone -->
        ```bash
        renamed test
        ```
        <!-- tested: tests/test_moved.py::test_exists -->
        ```bash
        moved file
        ```
        <!-- needs: luck -->
        ```bash
        unknown need
        ```
        <!-- tested: PENDING -->
        ```bash
        pending
        ```
        ```python
        print("python blocks need no marker")
        ```
        """))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path / "docs")
    problems = marker_problems()
    assert [problem.split(": ", 1)[0] for problem in problems] == [
        "README.md:5", "README.md:9", "README.md:13", "README.md:17", "README.md:21"]


def test_commands_use_the_demo_data_or_the_readers_data_folder():
    """No command in the docs names the development machine's ../shared/data: a reader has
    the demo data, and the public datasets wherever `$DATA` says."""
    for path in [*marked_files(), ROOT / "RESULTS.md"]:
        for line, _, code in code_blocks(path, "bash"):
            assert "shared/data" not in code, f"{path.relative_to(ROOT)}:{line}: use $DATA/<dataset>, not ../shared/data"


def test_public_datasets_table_links_each_official_source():
    page = (DOCS / "data.md").read_text()
    table = page[page.index("## Public datasets used in development"):].split("\n\n")[2]
    rows = [row for row in table.splitlines()[2:] if row.startswith("|")]
    assert len(rows) == 4
    for row in rows:
        assert re.search(r"\]\(https?://[^)]+\)", row.split("|")[4]), f"no link to the official source: {row}"


def test_readme_is_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    picture = re.search(r"!\[[^]]+\]\(([^)]+\.png)\)", "\n".join(readme.splitlines()[:12]))
    assert picture and (ROOT / picture.group(1)).stat().st_size > 50_000, "README's first screen shows no picture"
    for page in PAGES:
        assert f"](docs/{page}.md)" in readme, f"README.md does not link docs/{page}.md"
    for command in ('pip install -e . && python train.py --model unet',
                    'pip install -e ".[dev]" && python -m pytest -q -n 2'):
        assert command in readme


def test_site_lists_every_page_in_reading_order():
    mkdocs_yml = (ROOT / "mkdocs.yml").read_text()
    listed = re.findall(r"^\s*- [^:\n]+: (\S+)\.md\s*$", mkdocs_yml, re.MULTILINE)
    assert listed == list(PAGES)
    assert sorted(listed) == sorted(path.stem for path in DOCS.glob("*.md"))


def run_python(code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs `code` as a fresh Python process in `cwd` with the repository importable."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=600)


EXTENDING = code_blocks(DOCS / "extending.md", "python")


@pytest.mark.parametrize("line, code", [(line, code) for line, _, code in EXTENDING],
                         ids=[f"extending.md:{line}" for line, _, _ in EXTENDING])
def test_extending_examples_run(line, code, tmp_path):
    """Each example adds to a registry, so each runs alone in a fresh process."""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, f"docs/extending.md, block at line {line}:\n{result.stderr[-3000:]}"


def test_extending_has_an_example_per_extension_point():
    text = (DOCS / "extending.md").read_text()
    for section in ("## Add a model", "## Add an encoder", "## Add a loss", "## Add a transform"):
        assert section in text
    assert len(EXTENDING) == 4


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory) -> Path:
    """A working folder with what the export examples read: runs/demo/export (SavedModel of
    a tiny SegNet, whose unpooling layer is tfseg's own, model_card.json, model.tflite,
    model.onnx) and
    a demo image under ~/.cache/tfseg (HOME is this folder)."""
    folder = tmp_path_factory.mktemp("export-docs")
    script = f"""
import json
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from tfseg import models

export = Path("runs/demo/export")
model = models.build("segnet", (32, 32, 1), 1, base_filters=4)
model.export(str(export), verbose=False)
(export / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(export)).convert())
model.export(str(export / "model.onnx"), format="onnx", verbose=False, opset_version=17)
card = {{"model": "segnet", "input": {{"shape": [None, 32, 32, 1], "dtype": "float32", "channels": "grey"}},
         "classes": 1, "threshold": 0.5, "saved_model_endpoint": "serve"}}
(export / "model_card.json").write_text(json.dumps(card))
images = Path(".cache/tfseg/demo-n240-s128-seed0/images")
images.mkdir(parents=True)
cv2.imwrite(str(images / "demo_0000.png"), np.random.default_rng(0).integers(0, 256, (128, 128), dtype=np.uint8))
"""
    result = run_python(script, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


EXPORT = code_blocks(DOCS / "export.md", "python")


@pytest.mark.parametrize("line, code", [(line, code) for line, _, code in EXPORT],
                         ids=[f"export.md:{line}" for line, _, _ in EXPORT])
def test_export_examples_run_without_tfseg(line, code, demo_export):
    guarded = "import sys\nsys.modules['tfseg'] = None  # serving must not need tfseg\n" + code
    result = run_python(guarded, demo_export, env={"HOME": str(demo_export)})
    assert result.returncode == 0, f"docs/export.md, block at line {line}:\n{result.stderr[-3000:]}"


@pytest.mark.slow
def test_mkdocs_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install mkdocs mkdocstrings-python)")
    pytest.importorskip("mkdocstrings_handlers.python",
                        reason="mkdocstrings-python is not installed (pip install mkdocs mkdocstrings-python)")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "extending" / "index.html").is_file()
