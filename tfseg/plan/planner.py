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
    """The dataset and the options the fingerprint was computed with that differ from the defaults
    (the mask threshold only for binary masks: label maps do not use it)."""
    defaults = {**{f"data.{key}": value for key, value in dataclasses.asdict(DataConfig()).items()},
                "train.seed": TrainConfig().seed}
    unused = {"data.channels", "data.classes"} | ({"data.mask_threshold"} if fingerprint["options"]["data.classes"] > 1
                                                  else set())
    given = {key: value for key, value in fingerprint["options"].items() if key not in unused and value != defaults[key]}
    return [Choice("data.dir", fingerprint["dataset"], "the dataset", "dataset"),
            *(Choice(key, value, "as the fingerprint read the data", "dataset") for key, value in given.items())]


def plan(fingerprint: dict, budget_seconds: float, machine: Machine,
         time_steps: Callable[[Config], StepTiming] | None = None, given: dict[str, Any] | None = None) -> Plan:
    """Runs the rules (`tfseg.plan.rules.RULES`, in order) over a dataset's fingerprint.

    Args:
        fingerprint: dict. `tfseg.data.fingerprint(...)` of the dataset.
        budget_seconds: float. Time for training, its validation, the export and evaluation.
        machine: Machine. Where it will train (`tfseg.plan.this_machine()`).
        time_steps: callable or None. Config → StepTiming; None times real training steps
            on this machine (`tfseg.plan.time_training_steps`).
        given: dict or None. Settings the user chose (dotted key → value): the rules read them
            as if planned and plan around them, no choice replaces them, and a rule whose
            keys are all given does not run (with `train.epochs` given, nothing is timed).

    Returns:
        The `Plan`.
    """
    if time_steps is None:
        from tfseg.plan.timing import time_training_steps

        time_steps = time_training_steps
    given = given or {}
    budget = Budget(budget_seconds, machine, time_steps)
    choices = [choice for choice in _dataset_choices(fingerprint) if choice.key not in given]
    planned = {**{choice.key: choice.value for choice in choices}, **given}
    for rule in rules.RULES:
        if set(rule.keys) <= given.keys():
            continue
        settings, reason = rule(fingerprint, dict(planned), budget)
        settings = {key: value for key, value in settings.items() if key not in given}
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


def follow_plan(config: Config, budget_seconds: float, machine: Machine | None = None,
                time_steps: Callable[[Config], StepTiming] | None = None) -> Config:
    """`config` with every setting it leaves at its default planned from its dataset
    (`plan_data`, the values it sets `given`), each planned value's source
    `plan: <reason>` (`Config.sources`); the values it sets (its `sources`) stay. Channels,
    classes and the mask threshold stay with the data (`tfseg.data.settle_data`)."""
    from tfseg.config import DATA_DECIDED_KEYS
    from tfseg.data import fingerprint
    from tfseg.training import check_training_options

    check_training_options(config)
    values = config.to_dict()
    given = {key: _value_of(values, key) for key in config.sources}
    planned = plan(fingerprint(config), budget_seconds, machine or this_machine(), time_steps, given)
    chosen = {key: choice for key, choice in planned.settings().items()
              if choice.rule != "dataset" and key not in DATA_DECIDED_KEYS}
    raw = apply_overrides(config.to_dict(), {key: choice.value for key, choice in chosen.items()}, skip_none=False)
    followed = config_from_dict(raw, "plan")
    followed.sources = {**config.sources, **{key: f"plan: {choice.reason}" for key, choice in chosen.items()}}
    return followed


def _value_of(values: dict, dotted: str) -> Any:
    """The value of a dotted key (`model.options.depth`) in a config's `to_dict()`; None where it is absent."""
    value: Any = values
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
