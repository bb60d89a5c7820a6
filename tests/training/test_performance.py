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
    assert settings == "{'intra_op_threads': 1, 'inter_op_threads': 2, 'applied': True}"
    assert threads == "1 2"
    assert later == "False"  # the runtime already runs: reported, not silently ignored


def test_defaults_and_bad_arguments():
    assert cpu_cores() >= 1
    with pytest.raises(ValueError, match="intra_op_threads"):
        configure(intra_op_threads=0)
    with pytest.raises(ValueError, match="inter_op_threads"):
        configure(inter_op_threads=1.5)
