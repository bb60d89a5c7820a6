import platform

import pytest

from kerasseg.training.performance import configure, cpu_cores
from tests.helpers import run_python


def test_configure_sets_thread_pools_in_a_fresh_process():
    out = run_python(
        "from kerasseg.training.performance import configure\n"
        "import tensorflow as tf\n"
        "print(configure(intra_op_threads=1, inter_op_threads=2))\n"
        "tf.constant(1.0) + 1.0\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads())\n"
        "print(configure(intra_op_threads=2, inter_op_threads=2)['applied'])\n"
    )
    settings, threads, later = out.strip().splitlines()[-3:]
    assert settings.startswith("{'intra_op_threads': 1, 'inter_op_threads': 2, 'applied': True, 'onednn': ")
    assert threads == "1 2"
    assert later == "False"  # the runtime already runs: reported, not silently ignored


def test_defaults_and_bad_arguments():
    assert cpu_cores() >= 1
    with pytest.raises(ValueError, match="intra_op_threads"):
        configure(intra_op_threads=0)
    with pytest.raises(ValueError, match="inter_op_threads"):
        configure(inter_op_threads=1.5)


@pytest.mark.parametrize("setting, expected", [(None, "True"), ("0", "False")])
def test_import_kerasseg_turns_on_onednn_unless_the_user_chose(setting, expected, monkeypatch):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("kerasseg turns oneDNN on for x86 CPUs only")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    if setting is not None:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", setting)
    out = run_python(
        "import kerasseg\n"
        "import tensorflow as tf\n"
        "from kerasseg.training.performance import configure, onednn_enabled\n"
        "print(onednn_enabled(), configure()['onednn'])\n"
        "x = tf.Variable(tf.ones([1, 8, 8, 3]))\n"
        "@tf.function\n"
        "def grad():\n"
        "    with tf.GradientTape() as tape:\n"
        "        y = tf.reduce_sum(tf.nn.conv2d(x, tf.ones([3, 3, 3, 4]), 1, 'SAME'))\n"
        "    return tape.gradient(y, x)\n"
        "print(float(tf.reduce_sum(grad())))\n"
    )
    flags, total = out.strip().splitlines()[-2:]
    assert flags == f"{expected} {expected}"
    # Each input pixel feeds 4 channels x (2 or 3 rows) x (2 or 3 columns) of outputs: 3 x 4 x (2 + 6 x 3 + 2)^2.
    assert float(total) == 3 * 4 * 22 ** 2
