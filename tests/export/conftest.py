"""Shared, expensive fixtures: ENet is built once and exported to every format once per session."""
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SIZE = (64, 64)
NUM_CLASSES = 4
CLASS_NAMES = ["background", "road", "car", "sky"]


@pytest.fixture(scope="session")
def enet():
    import keras

    import kerasseg

    keras.utils.set_random_seed(0)  # fixed weights: the sanity bounds below are then deterministic
    return kerasseg.build_model("enet", NUM_CLASSES, input_shape=(None, None, 3))


@pytest.fixture(scope="session")
def class_names():
    return list(CLASS_NAMES)


@pytest.fixture(scope="session")
def images():
    return np.random.default_rng(0).uniform(0, 255, (3, *SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="session")
def labels():
    labels = np.random.default_rng(1).integers(0, NUM_CLASSES, (3, *SIZE)).astype(np.int32)
    labels[:, :8, :] = 255  # ignored rows
    return labels


@pytest.fixture(scope="session")
def bundle(enet, images, labels, tmp_path_factory):
    """One `export_model` call with every format; tests read its artifacts and parity rows."""
    from kerasseg.export import export_model

    out_dir = tmp_path_factory.mktemp("bundle")
    result = export_model(
        enet, out_dir, input_size=SIZE, representative_images=list(images), parity_images=images,
        parity_labels=labels, class_names=CLASS_NAMES,
    )
    result["out_dir"] = str(out_dir)
    return result
