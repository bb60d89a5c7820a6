"""The command line: one-line errors, --debug, --dry-run, --set."""
import subprocess
import sys

import pytest
import yaml

from kerasseg.cli import main


def _recipe(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("model: {name: enet}\ntrain: {steps_per_epoch: -5}\n", "'train.steps_per_epoch' must be a positive integer"),
    ("model: {name: enet}\ndata: {flip: 'false'}\n", "'data.flip' must be true or false, got 'false'"),
    ("model: {name: enet}\ndata: {train: {num_sample: 4}}\n",
     "unknown option 'num_sample' in data.train for dataset 'shapes'; valid: noise_std, num_samples"),
    ("model: {name: enet}\nmodel: {name: fcn8s}\n", "duplicate key 'model'"),
])
def test_config_errors_are_one_line(tmp_path, capsys, text, message):
    assert main(["train", "--config", _recipe(tmp_path, text)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kerasseg train: error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_file_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 1
    assert "kerasseg train: error: Config file not found: " in capsys.readouterr().err
    from kerasseg.training import ConfigError

    with pytest.raises(ConfigError):
        main(["train", "--debug", "--config", str(tmp_path / "nope.yaml")])


def test_dry_run_prints_the_resolved_recipe_with_overrides(tmp_path, capsys):
    path = _recipe(tmp_path, "model: {name: enet}\ntrain: {learning_rate: 5e-3}\n")
    assert main(["train", "--config", path, "--dry-run", "--set", "train.epochs=3",
                 "--set", "data.train.num_samples=10"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["epochs"] == 3 and printed["train"]["learning_rate"] == 5e-3
    assert printed["data"]["train"] == {"num_samples": 10} and printed["train"]["optimizer"] == "adam"
    assert not (tmp_path / "runs").exists()


def test_real_cli_process_prints_one_line(tmp_path):
    path = _recipe(tmp_path, "model: {name: enett}\n")
    out = subprocess.run([sys.executable, "-m", "kerasseg", "train", "--config", path], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.startswith("kerasseg")]
    assert lines == [f"kerasseg train: error: {path}: 'model.name' has unknown model 'enett'; valid: "
                     f"{lines[0].split('valid: ')[1]}"], out.stderr
    assert "Traceback" not in out.stderr
