"""The one list of export formats and their parity criteria; everything else derives from it.

`kerasseg.export.FORMATS`, the parity thresholds (`kerasseg.export.parity.THRESHOLDS`), the recipe default
(`export.formats` in `kerasseg.training.config`) and the `kerasseg export --formats` help all read this table.
"""

#: format -> (metric, comparison, threshold) that decides its parity row's `passed`; in export order.
PARITY_CRITERIA = {
    "savedmodel": ("max_abs_diff", "<=", 1e-4),
    "tflite-fp32": ("max_abs_diff", "<=", 1e-4),
    "tflite-fp16": ("argmax_agreement", ">=", 0.99),
    "tflite-int8": ("argmax_agreement", ">=", 0.95),
    "onnx": ("max_abs_diff", "<=", 1e-4),
}

FORMATS = tuple(PARITY_CRITERIA)
#: The `.tflite` formats and the quantization each one asks `convert_tflite` for.
TFLITE_QUANTIZATIONS = {fmt: fmt.split("-", 1)[1] for fmt in FORMATS if fmt.startswith("tflite-")}
