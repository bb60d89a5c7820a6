"""Packaging for kerasseg.

TensorFlow is installed through an extra so that CPU machines take the small `tensorflow-cpu` wheel and
GPU machines take `tensorflow[and-cuda]`; both provide the same `tensorflow` module:

    pip install -e ".[cpu]"        # CPU only (laptops, CI)
    pip install -e ".[gpu]"        # Linux + NVIDIA GPU
    pip install -e ".[cpu,dev]"    # plus the test tools
    pip install -e ".[cpu,bench]"  # plus PyTorch, for `python -m benchmarks.train_step --peer`
    pip install -e ".[cpu,android]"   # plus MediaPipe metadata in the .tflite files (Android)
"""
import pathlib
import re

from setuptools import find_packages, setup

here = pathlib.Path(__file__).parent
version = re.search(r'__version__ = "([^"]+)"', (here / "kerasseg" / "__init__.py").read_text()).group(1)

TF_RANGE = ">=2.16,<2.22"

setup(
    name="kerasseg",
    version=version,
    description="Semantic-segmentation networks in TensorFlow 2 / Keras 3, exportable to TF Serving, "
    "TFLite (LiteRT) and ONNX.",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["kerasseg", "kerasseg.*"]),
    package_data={"kerasseg": ["weights/*.weights.h5", "weights/*.json"]},
    install_requires=[
        "keras>=3.3,<3.16",
        "numpy>=1.26",
        "tf2onnx>=1.16",
        "onnx>=1.16",
        "onnxruntime>=1.18",
        "ai-edge-litert>=1.2",
        "matplotlib>=3.8",
        "PyYAML>=6.0",
        "tensorboard>=2.16",
        "pillow>=10.0",
    ],
    extras_require={
        "cpu": [f"tensorflow-cpu{TF_RANGE}"],
        "gpu": [f"tensorflow[and-cuda]{TF_RANGE}"],
        "dev": ["pytest>=8", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29"],
        # benchmarks/train_step.py --peer (never a test dependency): PyTorch on the same batches.
        "bench": ["torch>=2.4", "segmentation-models-pytorch>=0.3"],
        # MediaPipe ImageSegmenter metadata in .tflite files, and the MediaPipe client check / tests.
        "android": ["mediapipe>=0.10.21"],
        # The PredictRequest round trip of the tests; install with --no-deps (it pins the full `tensorflow`).
        "serving": ["tensorflow-serving-api>=2.16"],
    },
    entry_points={"console_scripts": ["kerasseg=kerasseg.cli:main"]},
)
