"""A training plan: the rules run over a dataset's fingerprint, giving an ordinary config with a
reason for every choice."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from tfseg.config import Config, DataConfig, TrainConfig, apply_overrides, config_from_dict, load_config
from tfseg.files import write_atomically
from tfseg.plan import rules
from tfseg.plan.machine import Machine, StepTiming, this_machine
from tfseg.plan.rules import Budget
from tfseg.text import format_duration


@dataclass(frozen=True)
class Choice:
    """One planned setting: its dotted key, value, one-line reason and the rule that chose it."""

    key: str
    value: Any
    reason: str
    rule: str


@dataclass
class Plan:
    """An ordinary tfseg config (`config_dict`, `config`, `yaml`) with the reason for each setting.

    Attributes:
        dataset: str. The dataset folder or manifest planned for.
        budget_seconds: float. The training budget.
        machine: Machine. Where it was planned for (and its steps timed).
        choices: list of Choice. Every setting, in the order the rules set them; a later
            choice of a key replaces an earlier one.
    """

    dataset: str
    budget_seconds: float
    machine: Machine
    choices: list[Choice]

    def settings(self) -> dict[str, Choice]:
        """The final choice of each dotted key, in the order they were made."""
        final: dict[str, Choice] = {}
        for choice in self.choices:
            final.pop(choice.key, None)
            final[choice.key] = choice
        return final

    def config_dict(self) -> dict[str, Any]:
        """The plan as nested config sections (`tfseg.config.config_from_dict` reads it)."""
        return apply_overrides({}, {key: choice.value for key, choice in self.settings().items()}, skip_none=False)

    def config(self) -> Config:
        """The plan as a validated `Config`."""
        return config_from_dict(copy.deepcopy(self.config_dict()), "plan")

    def table(self) -> str:
        """One line per decision: its keys, their values, its reason."""
        rows: list[tuple[list[str], list[str], str]] = []
        previous = None
        for choice in self.settings().values():
            if (choice.rule, choice.reason) != previous:
                rows.append(([], [], choice.reason))
                previous = (choice.rule, choice.reason)
            section = rows[-1][0][0].split(".")[0] + "." if rows[-1][0] else None
            rows[-1][0].append(choice.key.removeprefix(section) if section else choice.key)
            rows[-1][1].append(_flow(choice.value))
        keys = [", ".join(row[0]) for row in rows]
        values = [", ".join(row[1]) for row in rows]
        key_width, value_width = max(map(len, keys)), min(24, max(map(len, values)))
        return "\n".join(f"{key:<{key_width}}  {value:<{value_width}}  {row[2]}" for key, value, row in zip(keys, values, rows))

    def yaml(self) -> str:
        """The config as YAML, each setting under a comment with its reason."""
        lines = [
            f"# tfseg plan for {self.dataset}: a training budget of {format_duration(self.budget_seconds)} on "
            f"{self.machine.describe()}.",
            "# Train it with: python train.py --config THIS_FILE",
        ]
        reasons = self.settings()
        for section, values in self.config_dict().items():
            lines.append(f"{section}:")
            lines += _yaml_lines(values, section, reasons, "  ")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> Path:
        """Writes `yaml()` to `path` atomically and returns the path."""
        return write_atomically(path, self.yaml())


def _flow(value: Any) -> str:
    """A value as one line of YAML (`[96, 128]`, `ce+dice`)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("\n...").strip()


def _yaml_lines(values: dict, prefix: str, reasons: dict[str, Choice], indent: str) -> list[str]:
    """YAML lines of one mapping of the config, a `# reason` line above each planned key (once
    for keys that one decision set together)."""
    lines, previous = [], None
    for key, value in values.items():
        dotted = f"{prefix}.{key}"
        choice = reasons.get(dotted)
        if choice and (choice.rule, choice.reason) != previous:
            lines.append(f"{indent}# {choice.reason}")
        previous = (choice.rule, choice.reason) if choice else None
        if isinstance(value, dict) and not choice:
            lines.append(f"{indent}{key}:")
            lines += _yaml_lines(value, dotted, reasons, indent + "  ")
        else:
            lines.append(f"{indent}{key}: {_flow(value)}")
    return lines


def _dataset_choices(fingerprint: dict) -> list[Choice]:
    """The dataset and the options the fingerprint was computed with that differ from the defaults."""
    defaults = {**{f"data.{key}": value for key, value in dataclasses.asdict(DataConfig()).items()},
                "train.seed": TrainConfig().seed}
    given = {key: value for key, value in fingerprint["options"].items()
             if key not in ("data.channels", "data.classes") and value != defaults[key]}
    return [Choice("data.dir", fingerprint["dataset"], "the dataset", "dataset"),
            *(Choice(key, value, "as the fingerprint read the data", "dataset") for key, value in given.items())]


def plan(fingerprint: dict, budget_seconds: float, machine: Machine,
         time_steps: Callable[[Config], StepTiming] | None = None) -> Plan:
    """Runs the rules (`tfseg.plan.rules.RULES`, in order) over a dataset's fingerprint.

    Args:
        fingerprint: dict. `tfseg.data.fingerprint(...)` of the dataset.
        budget_seconds: float. Time for training, its validation, the export and evaluation.
        machine: Machine. Where it will train (`tfseg.plan.this_machine()`).
        time_steps: callable or None. Config → StepTiming; None times real training steps
            on this machine (`tfseg.plan.time_training_steps`).

    Returns:
        The `Plan`.
    """
    if time_steps is None:
        from tfseg.plan.timing import time_training_steps

        time_steps = time_training_steps
    budget = Budget(budget_seconds, machine, time_steps)
    choices = _dataset_choices(fingerprint)
    planned = {choice.key: choice.value for choice in choices}
    for rule in rules.RULES:
        settings, reason = rule(fingerprint, dict(planned), budget)
        planned.update(settings)
        choices += [Choice(key, value, reason, rule.__name__) for key, value in settings.items()]
    return Plan(fingerprint["dataset"], budget_seconds, machine, choices)


def plan_data(data: Config | str | Path | None, budget_seconds: float, machine: Machine | None = None,
              time_steps: Callable[[Config], StepTiming] | None = None) -> Plan:
    """The plan of a dataset: its fingerprint (computed once, cached; channels, classes and mask
    threshold as the data decides them unless `data` sets them), then `plan`.

    Args:
        data: Config (its data options say how to read the dataset), a dataset folder or
            manifest, or None for the demo data.
        budget_seconds, time_steps: as in `plan`.
        machine: Machine or None. None is `this_machine()`.
    """
    from tfseg.data import fingerprint

    config = data if isinstance(data, Config) else load_config(None, {"data.dir": None if data is None else str(data)})
    return plan(fingerprint(config), budget_seconds, machine or this_machine(), time_steps)
