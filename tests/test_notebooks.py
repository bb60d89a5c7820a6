"""Notebooks are executed top to bottom so they never rot."""
import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# What each notebook must print: quickstart the IoU and parity tables and the shipped CamVid ENet's classes;
# serving every signature's agreement.
EXPECTED_OUTPUT = {
    "quickstart": ["mean", "tflite-int8", "['Sky', 'Building', 'Pole'"],
    "serving": ["tf_example       classes (2, 50, 70) int32, same as serving_default: 100.00%",
                "image_bytes      classes (2, 50, 70) int32, same as serving_default: 100.00%",
                "image_tensor     classes (2, 50, 70) int32, same as serving_default: 100.00%",
                "REST instances -> 100.00% = serving_default", "REST inputs -> 100.00% = serving_default",
                "bytes) -> 100.00% = serving_default"],
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    # The kernel runs this checkout's kerasseg, installed or not.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    for expected in EXPECTED_OUTPUT[path.stem]:
        assert expected in text, expected
