import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, cwd=None, timeout=300):
    """Runs `code` in a fresh Python process (with the repo importable) and returns its stdout."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc.stdout


@pytest.fixture
def fresh_python():
    return run_python


def keras_round_trip(model, x, directory, extra=None):
    """Saves `model` as .keras, reloads it in a fresh process (only `import kerasseg`) and runs it on `x`.

    Args:
        model: a `keras.Model`.
        x: a numpy batch for the model.
        directory: a folder for the .keras file and the arrays.
        extra: optional Python expression on the reloaded model `m`, printed and returned as text.

    Returns:
        The max |difference| between the reloaded and the original model's outputs (inference mode), or
        (that difference, the text of `extra`) when `extra` is given.
    """
    import numpy as np

    paths = {key: os.path.join(str(directory), name) for key, name in
             (("x", "x.npy"), ("y", "y.npy"), ("model", f"{model.name}.keras"))}
    np.save(paths["x"], x)
    np.save(paths["y"], model(x, training=False).numpy())
    model.save(paths["model"])
    out = run_python(
        "import numpy as np, keras, kerasseg\n"
        f"m = keras.saving.load_model({paths['model']!r})\n"
        f"y = m(np.load({paths['x']!r}), training=False).numpy()\n"
        f"print(float(np.abs(y - np.load({paths['y']!r})).max()))\n"
        f"print({extra or 'None'})\n"
    )
    diff, extra_text = out.strip().splitlines()[-2:]
    return (float(diff), extra_text) if extra else float(diff)
