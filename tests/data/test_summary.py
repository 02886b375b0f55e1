"""The dataset summary (--inspect) on a real multi-class dataset."""


def test_inspect_real_multiclass_dataset():
    from tfseg.config import load_config
    from tfseg.data import dataset_summary

    from tests.conftest import shared_dataset

    folder = shared_dataset("jsrt-multiclass")
    text = dataset_summary(load_config(None, {"data.dir": str(folder)}))  # classes.txt names 4 classes
    assert "247 image/mask pairs" in text
    assert "label maps: 4 classes [classes.txt (4 names)]" in text
    assert "read as 1 channel(s) [images (grey)]" in text
    assert "class names (classes.txt): 0 background, 1 lung, 2 heart, 3 clavicle" in text
    assert "mask values (masks containing each): 0 (247), 1 (247), 2 (247), 3 (247)" in text
