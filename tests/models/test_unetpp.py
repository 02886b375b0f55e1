"""U-Net++: deep supervision's outputs and their mean loss."""

import numpy as np

from tests.models.conftest import _batch
from tfseg import losses, models


def test_unetpp_deep_supervision_outputs_and_mean_loss():
    depth = 3
    model = models.build("unetpp", (32, 32, 1), 1, depth=depth, base_filters=4, deep_supervision=True)
    assert model.output_names == [f"head{j}_sigmoid" for j in range(1, depth + 1)]
    assert all(shape == (None, 32, 32, 1) for shape in model.output_shape)
    loss = losses.get("bce+dice")
    model.compile("adam", loss=[loss] * depth, loss_weights=[1 / depth] * depth, run_eagerly=True)
    x, y = _batch((32, 32, 1), 1)
    model.train_on_batch(x, [y] * depth)
    outputs = model(x, training=False)
    mean_of_heads = np.mean([float(loss(y, output)) for output in outputs])
    total = model.evaluate(x, [y] * depth, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(total, mean_of_heads, rtol=1e-4)
    single = models.build("unetpp", (32, 32, 1), 1, depth=depth, base_filters=4)
    assert single.output_shape == (None, 32, 32, 1) and single.count_params() == model.count_params() - 2 * 5
