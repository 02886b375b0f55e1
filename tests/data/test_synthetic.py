import numpy as np

from tfseg.data.synthetic import make_sample, write_demo_dataset


def test_same_seed_same_sample_and_different_seeds_differ():
    image_a, mask_a = make_sample(7, 64)
    image_b, mask_b = make_sample(7, 64)
    image_c, _ = make_sample(8, 64)
    np.testing.assert_array_equal(image_a, image_b)
    np.testing.assert_array_equal(mask_a, mask_b)
    assert not np.array_equal(image_a, image_c)


def test_samples_have_structure_a_model_can_learn():
    fractions, contrasts = [], []
    for seed in range(20):
        image, mask = make_sample(seed, 96)
        assert image.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        inside = mask > 0
        fractions.append(inside.mean())
        contrasts.append(abs(image[inside].mean() - image[~inside].mean()))
    assert 0.02 < np.mean(fractions) < 0.6
    assert np.mean(contrasts) > 20  # lesions differ from background on average
    assert np.std(fractions) > 0.01  # and vary in size


def test_written_dataset_layout(tmp_path):
    folder = write_demo_dataset(tmp_path / "demo", samples=20, size=32, seed=1)
    assert len(list((folder / "images").glob("*.png"))) == 20
    assert len(list((folder / "masks").glob("*.png"))) == 20
    splits = (folder / "splits.csv").read_text().splitlines()
    assert splits[0] == "id,split" and len(splits) == 21
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".demo-")]  # no staging left
