"""Device side of kerasseg: run, benchmark and score `.tflite` files with LiteRT, the runtime Android uses.

Needs only `ai_edge_litert`, numpy and Pillow: on a machine without TensorFlow / Keras, `import kerasseg`
loads nothing else and these modules work (a test runs them with TensorFlow and Keras blocked):

    python -m kerasseg.litert.run MODEL.tflite IMAGE_OR_FOLDER --out DIR [--labels DIR]
    python -m kerasseg.litert.benchmark MODEL_fp32.tflite MODEL_fp16.tflite MODEL_int8.tflite [--threads 1 2]
    python -m kerasseg.litert.profile MODEL_fp32.tflite MODEL_int8.tflite [--threads 1] [--image FILE]

`runtime` is the one copy of the interpreter code (quantize / dequantize / run / op inspection); `kerasseg.export`
uses it too.
"""
