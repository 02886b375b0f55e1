from pathlib import Path

import pytest

from tfseg.config import Config, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    load_config(path)


def test_default_yaml_equals_defaults():
    assert load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml") == Config()
