"""LiteRT side of kerasseg: run and benchmark `.tflite` segmentation models with the runtime Android uses.

Needs only `ai_edge_litert`, numpy and Pillow (no TensorFlow, no kerasseg):

    python -m tflite.run MODEL.tflite IMAGE.png --out mask.png
    python -m tflite.benchmark MODEL.tflite --runs 50
"""
