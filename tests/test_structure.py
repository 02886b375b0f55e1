"""The package's import rules, read from the import statements of every module.

Layers, top to bottom; a module may import only modules of lower layers, and any module
of its own unit (the submodules of one package, e.g. `tfseg.data.*`, import each other):

    __main__ → cli, api → study, export.command, export.checks, plan → training, evaluation, prediction → callbacks,
    export, settings_table → run_state → run → inference, optim, distribution → models, losses, metrics, data,
    dicom, plots, pages → config → options, transforms, text → errors, files

`tfseg.export.command` and `tfseg.export.checks` are units of their own above the rest of
their package: they predict and tune thresholds as evaluation does, and evaluation and
prediction load models through `tfseg.export`.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfseg"

LAYERS = [
    ["__main__"],
    ["cli", "api"],
    ["study", "export.command", "export.checks", "plan"],
    ["training", "evaluation", "prediction"],
    ["callbacks", "export", "settings_table"],
    ["run_state"],
    ["run"],
    ["inference", "optim", "distribution"],
    ["models", "losses", "metrics", "data", "dicom", "plots", "pages"],
    ["config"],
    ["options", "transforms", "text"],
    ["errors", "files"],
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}
EXCEPTIONS: set[tuple[str, str]] = set()
"""(importing unit, imported unit) pairs allowed against the layers: none today."""


def _unit(module: str) -> str:
    """tfseg.data.pipeline → data; tfseg.run → run; tfseg.export.checks → export.checks; tfseg → '' (the package itself)."""
    if module.removeprefix("tfseg.") in LEVEL:
        return module.removeprefix("tfseg.")
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports() -> list[tuple[str, str, int]]:
    """(importing module, imported tfseg module, line) for every import statement, lazy ones included."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("tfseg", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfseg"):
                targets = [node.module] if node.module != "tfseg" else [f"tfseg.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("tfseg")]
            else:
                continue
            found += [(module, target, node.lineno) for target in targets]
    return found


def test_every_module_has_a_layer():
    units = {_unit(module) for module, _, _ in _imports()} | {_unit(target) for _, target, _ in _imports()}
    units |= {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir() if not path.name.startswith("__")}
    assert units - {""} - {"py"} <= set(LEVEL), f"units without a layer: {sorted(units - set(LEVEL) - {''})}"


def test_imports_point_down_the_layers_only():
    broken = []
    for module, target, line in _imports():
        source, imported = _unit(module), _unit(target)
        if source in ("", imported):  # tfseg/__init__ registers serializables; a unit imports its own parts
            continue
        if LEVEL[imported] <= LEVEL[source] and (source, imported) not in EXCEPTIONS:
            broken.append(f"{module}:{line} imports {target} ({source} is layer {LEVEL[source]}, {imported} layer {LEVEL[imported]})")
    assert not broken, "imports against the layers:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    "module, forbidden",
    [("tfseg.prediction", "tfseg.evaluation"), ("tfseg.config", "tfseg.data"), ("tfseg.run", "tfseg.training")],
)
def test_importing_a_module_does_not_pull_in(module, forbidden):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == {forbidden!r} or m.startswith({forbidden!r} + '.')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip() == "[]", f"import {module} pulled in {result.stdout.strip()}"


def test_the_export_command_imports_no_training_code(tmp_path):
    code = (
        "import sys; from tfseg.cli import export_main; "
        f"assert export_main([{str(tmp_path)!r}]) == 2; "  # runs the command's imports, then stops: not a run
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in (['tfseg', 'training'], ['tfseg', 'callbacks'])))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip().splitlines()[-1] == "[]", f"export.py pulled in {result.stdout.strip()}"
