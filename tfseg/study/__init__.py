"""Studies: a grid of training runs from one study file, evaluated and compared in one table.

A study file (YAML; examples in configs/studies/) names the shared settings and a grid:

    name: ph2_losses                      # default: the file's stem
    description: SegNet with five losses, U-Net variants with BCE, on PH2.
    settings:                             # a config as train.py reads it (data, model, train),
                                          # or a config file: `settings: configs/ph2_best.yaml`
      data: {dir: ../shared/data/ph2-skin, image_size: [192, 256], channels: 3}
      train: {epochs: 40, batch_size: 8}
    grid:                                 # blocks; each is the product of its lists; the study is all blocks
      - {model.name: segnet, train.loss: [bce, dice, focal, tversky]}
      - {model.name: [unet, unet_upsampling], train.loss: bce}
    seeds: [0, 1, 2]                      # default: [settings' train.seed]
    folds: 5                              # k-fold cross-validation: each cell once per fold (default: 0, none)
    ensembles: [none, flip]               # also score each cell's seeds (and folds) as one ensemble, per TTA mode
    class_names: [lung, heart, clavicle]  # multi-class: names of classes 1..K-1 in the table

Grid keys are the dotted config keys of train.py's YAML (`model.options.depth` reaches
the builder's options). Each cell (one combination and seed) trains into
`<out>/<name>/runs/<cell>/`, is evaluated on the validation and test splits at the
masks' native resolution (threshold 0.5), and adds one row to `results.csv`, its
validation curve to `curves.csv`, and redraws `results.md` and `results.png`, all in
`<out>/<name>/`, as soon as it is done. Cells with a row are skipped; a cell whose run was
interrupted resumes from its last saved epoch; so a study can be stopped (even killed) and
started again, on this machine or another with the same files, and finishes with every
cell once. With `folds: k`, each combination and seed trains k times (`data.folds: k`,
`data.fold` 0..k-1: fold i validates, the others train; the test split stays), as cells
`<cell>-f<i>-s<seed>`. With `ensembles:`, once every seed (and fold) of a cell is done, the
mean probability of their models is scored the same way (with each listed test-time
augmentation) and adds a row `<cell>-ensemble` (`<cell>-ensemble-<tta>`); a fold ensemble
is scored on test only, as each fold's validation images trained the other folds' models.

The test split's per-image scores of each row are kept as `per_image/<row>.csv`, and
`report.html` shows the table, the figure and two rows side by side on the test images.

The parts: `spec` (the file, the grid, the cells), `names` (cell names, built and read),
`results` (results.csv and curves.csv), `runner` (train, evaluate, ensembles), `report`
(results.md, the figure, and tables published into RESULTS.md) and `page` (report.html).
"""

from tfseg.study.names import CellName, cell_name, ensemble_name, group_name, read_cell_name
from tfseg.study.report import publish, render_results
from tfseg.study.results import finished_cells, read_results
from tfseg.study.runner import describe_cells, run_study
from tfseg.study.spec import Cell, Study, check_pair_names, load_study, select_cells

__all__ = [
    "Cell",
    "CellName",
    "Study",
    "cell_name",
    "check_pair_names",
    "describe_cells",
    "ensemble_name",
    "finished_cells",
    "group_name",
    "load_study",
    "publish",
    "read_cell_name",
    "read_results",
    "render_results",
    "run_study",
    "select_cells",
]
