"""Training follows the plan: the settings the user left at their defaults are planned, each
with `plan: <reason>` as its source; what the user set stays and the rules plan around it."""

from pathlib import Path

import pytest
import yaml

from tfseg.config import load_config
from tfseg.plan import follow_plan, plan
from tfseg.plan.rules import RULES

from tests.plan.conftest import CPU, fixed_timing, make_fingerprint


def untimed(config):
    raise AssertionError("nothing is timed when train.epochs is given")


def test_given_settings_are_kept_and_planned_around():
    given = {"data.image_size": [64, 96], "train.epochs": 3, "train.loss": "dice"}
    result = plan(make_fingerprint(height=512, width=768), 1800, CPU, untimed, given=given).settings()
    assert not given.keys() & result.keys()  # no choice replaces a given value
    assert result["model.options.depth"].value == 3  # from the given 64x96 input: a bottleneck of 8x12
    assert result["train.warmup_epochs"].value == 0  # from the given 3 epochs
    assert "train.epochs" not in result and "data.crop" not in result


def test_a_rule_runs_unless_the_user_set_all_it_decides():
    assert all(rule.keys for rule in RULES)
    result = plan(make_fingerprint(), 1800, CPU, fixed_timing, given={"train.optimizer": "sgd"}).settings()
    assert result["train.lr"].value == 1e-3 and "train.optimizer" not in result  # one of three keys given: it runs


def test_another_model_keeps_its_depth_and_gets_inputs_of_its_stride():
    fingerprint = make_fingerprint(height=192, width=256)
    result = plan(fingerprint, 1800, CPU, fixed_timing, given={"model.name": "fpn_resnet18"}).settings()
    assert "model.options.depth" not in result and "model.name" not in result
    assert all(side % 32 == 0 for side in result["data.image_size"].value)


def test_follow_plan_sources_say_plan_and_the_reason(tiny_dataset):
    config = load_config(None, {"data.dir": str(tiny_dataset), "train.epochs": 2, "train.batch_size": 4})
    followed = follow_plan(config, 600, CPU, untimed)
    assert followed.train.epochs == 2 and followed.source_of("train.epochs") == "flag --epochs"
    assert followed.train.batch_size == 4 and followed.source_of("train.batch_size") == "flag --batch-size"
    assert followed.train.optimizer == "adamw" and followed.source_of("train.optimizer").startswith(
        "plan: the best recipes of RESULTS.md")
    assert followed.data.image_size == [64, 64] and followed.source_of("data.image_size").startswith("plan: resize to 64x64")
    assert followed.train.steps_per_epoch == 250 and followed.model.options == {"depth": 3}
    assert followed.data.channels is None  # left to the data, as without a plan


@pytest.mark.slow
def test_tfseg_train_data_follows_the_plan_and_a_flag_wins(tiny_dataset, tmp_path, capsys):
    from tfseg.cli import main

    common = ["--epochs", "1", "--steps-per-epoch", "2", "--set", "model.options.base_filters=4"]
    assert main(["train", "--data", str(tiny_dataset), "--image-size", "32", "32", *common,
                 "--run-dir", str(tmp_path / "planned")]) == 0
    out = capsys.readouterr().out
    assert "tfseg: planning the settings you did not set from the data, for a budget of 30m" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "flag --image-size" in rows["geometry"] and "32x32" in rows["geometry"]
    assert "plan: the best recipes of RESULTS.md" in rows["learning"] and "adamw" in rows["learning"]
    assert "--set, plan: nnU-Net's architecture" in rows["model"] and "; 2 poolings" in rows["model"]
    saved = yaml.safe_load((tmp_path / "planned" / "config.yaml").read_text())
    assert saved["train"]["optimizer"] == "adamw" and saved["model"]["options"] == {"depth": 2, "base_filters": 4}
    assert saved["data"]["image_size"] == [32, 32] and saved["train"]["epochs"] == 1

    assert main(["train", "--data", str(tiny_dataset), "--image-size", "32", "32", *common, "--no-plan",
                 "--set", "model.options.depth=2", "--run-dir", str(tmp_path / "defaults")]) == 0
    assert "planning" not in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "defaults" / "config.yaml").read_text())
    assert saved["train"]["optimizer"] == "adam" and saved["data"]["augment"] == "flip"


def test_plan_flags_that_contradict_each_other_are_one_line_errors(tiny_dataset, tmp_path, capsys):
    from tfseg.cli import main

    assert main(["train", "--data", str(tiny_dataset), "--no-plan", "--budget", "5m"]) == 2
    assert capsys.readouterr().err.strip() == "error: --budget 5m is the plan's; drop --no-plan or --budget"
    assert main(["train", "--resume", str(tmp_path), "--budget", "5m"]) == 2
    assert "drop --plan and --budget" in capsys.readouterr().err
    assert main(["train", "--data", str(tiny_dataset), "--budget", "5x"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --budget '5x': expected a duration")
