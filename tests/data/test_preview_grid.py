"""--inspect and --preview: the dataset summary and the preview grid from the command line."""

import cv2

from tests.data.conftest import _copy


def test_inspect_and_preview_from_the_command_line(tiny_dataset, tmp_path, capsys):
    from tfseg.cli import train_main

    png = tmp_path / "grid.png"
    argv = ["--data", str(tiny_dataset), "--image-size", "32", "32", "--augment", "medium"]
    assert train_main([*argv, "--inspect", "--preview", "3", "--preview-path", str(png)]) == 0
    out = capsys.readouterr().out
    assert "24 image/mask pairs" in out and "train        16" in out and "image sizes (W x H): 64x64 (24)" in out
    assert "mask values (masks containing each): 0 (24), 255 (24)" in out and "no problems found" in out
    picture = cv2.imread(str(png))
    assert picture is not None and picture.shape[1] > picture.shape[0]
    broken = _copy(tiny_dataset, tmp_path)
    (broken / "masks" / "demo_0007.png").write_bytes(b"not a png")
    assert train_main(["--data", str(broken), "--inspect"]) == 2
    assert "demo_0007.png: cannot decode image" in capsys.readouterr().err
