"""TFLite model metadata for MediaPipe's `ImageSegmenter` task (the Android side).

MediaPipe Tasks (the successor of the TFLite Task Library) reads three things from a segmentation model's
metadata and refuses or mislabels the model without them:

* the input image's normalization (`NormalizationOptions` mean / std) and colour space. kerasseg models
  normalize inside the graph (their first layers), so every export takes raw RGB pixels in [0, 255]: the
  metadata says mean 0 / std 1 for float inputs, and the uint8 input of an int8 model is the camera byte
  itself (scale 1, zero point 0);
* the class names, as the output tensor's `TENSOR_AXIS_LABELS` associated file (`labels.txt`, one a line),
  which MediaPipe reports as `ImageSegmenter.labels`;
* the segmenter activation (`SEGMENTER_METADATA` custom metadata, `ImageSegmenterOptions.activation`):
  SOFTMAX, because kerasseg graphs return logits.

tflite-support, which used to write this, is unmaintained (protobuf < 4, no wheel for current Python), and the
`mediapipe` wheel's own `metadata_writers` cannot be imported from its 1.2 wheels (they import a
`mediapipe.tasks.cc` extension the wheel does not ship). The flatbuffers are therefore built here with the
generated schema classes of the `mediapipe` wheel (`pip install "kerasseg[android]"`), following
`metadata_schema.fbs`: the metadata goes into the model's `metadata` list under `TFLITE_METADATA`, and the
label file is appended to the model as a zip archive, exactly where MediaPipe's metadata extractor looks.
"""
import io
import os
import zipfile

import numpy as np

from kerasseg.litert.runtime import pack_flatbuffer, tflite_schema

#: Name under which TFLite (and MediaPipe) find the model metadata buffer.
METADATA_NAME = "TFLITE_METADATA"
#: Name of the custom metadata holding the segmenter options (mediapipe/tasks/metadata).
SEGMENTER_METADATA_NAME = "SEGMENTER_METADATA"
LABEL_FILE = "labels.txt"
#: `SubGraphMetadata.custom_metadata` was added in metadata schema 1.5.0, the newest field written here.
MIN_PARSER_VERSION = "1.5.0"
ACTIVATIONS = ("NONE", "SIGMOID", "SOFTMAX")

INSTALL_HINT = ('MediaPipe metadata needs the `mediapipe` wheel: pip install "kerasseg[android]" '
                '(or pip install mediapipe).')


def _schemas():
    """The generated flatbuffer modules: (TFLite model schema, metadata schema, segmenter options schema)."""
    try:
        from mediapipe.tasks.metadata import image_segmenter_metadata_schema_py_generated as segmenter_fb
        from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return tflite_schema(), metadata_fb, segmenter_fb


def _metadata_buffer(model_name, class_names, input_is_float, activation):
    _, md, seg = _schemas()
    image = md.TensorMetadataT()
    image.name = "image"
    image.description = ("RGB image, raw pixel values in [0, 255]; the model normalizes it itself."
                         if input_is_float else "RGB image bytes (uint8, scale 1, zero point 0).")
    image.content = md.ContentT()
    image.content.contentPropertiesType = md.ContentProperties.ImageProperties
    image.content.contentProperties = md.ImagePropertiesT()
    image.content.contentProperties.colorSpace = md.ColorSpaceType.RGB
    normalization = md.ProcessUnitT()
    normalization.optionsType = md.ProcessUnitOptions.NormalizationOptions
    normalization.options = md.NormalizationOptionsT()
    normalization.options.mean = [0.0]
    normalization.options.std = [1.0]
    image.processUnits = [normalization]
    image.stats = md.StatsT()
    image.stats.max = [255.0]
    image.stats.min = [0.0]

    masks = md.TensorMetadataT()
    masks.name = "segmentation_masks"
    masks.description = f"Per-pixel scores of the {len(class_names)} classes (logits)."
    masks.content = md.ContentT()
    masks.content.contentPropertiesType = md.ContentProperties.ImageProperties
    masks.content.contentProperties = md.ImagePropertiesT()
    masks.content.contentProperties.colorSpace = md.ColorSpaceType.GRAYSCALE
    labels = md.AssociatedFileT()
    labels.name = LABEL_FILE
    labels.description = "Class names, one per line, in the order of the output channels."
    labels.type = md.AssociatedFileType.TENSOR_AXIS_LABELS
    masks.associatedFiles = [labels]

    options = seg.ImageSegmenterOptionsT()
    options.activation = ACTIVATIONS.index(activation)
    custom = md.CustomMetadataT()
    custom.name = SEGMENTER_METADATA_NAME
    custom.data = list(pack_flatbuffer(options, b"V001"))

    subgraph = md.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [masks]
    subgraph.customMetadata = [custom]
    model = md.ModelMetadataT()
    model.name = model_name
    model.description = "Semantic segmentation (kerasseg): per-pixel class scores at the input size."
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    return pack_flatbuffer(model, b"M001")


def add_segmenter_metadata(tflite_model, class_names, model_name="kerasseg", activation="SOFTMAX"):
    """Returns a `.tflite` flatbuffer with MediaPipe `ImageSegmenter` metadata and the label file.

    Args:
        tflite_model: the converted model (bytes) with one [1, H, W, 3] image input and one [1, H, W, C]
            output. Metadata already present is replaced.
        class_names: the C class names, in output-channel order (each on one line of `labels.txt`).
        model_name: the model name recorded in the metadata.
        activation: "SOFTMAX" for logit outputs (kerasseg), "SIGMOID" or "NONE".

    Returns:
        The model bytes with the metadata (a flatbuffer followed by a zip archive holding `labels.txt`).

    Raises:
        ImportError: the `mediapipe` wheel is missing (with the install command).
        ValueError: the number of class names does not match the output channels, a name is empty or holds a
            line break, or `activation` is not one of `ACTIVATIONS`.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
    schema, _, _ = _schemas()
    buffer = bytes(tflite_model)
    if zipfile.is_zipfile(io.BytesIO(buffer)):  # already has associated files: keep only the flatbuffer
        buffer = _flatbuffer_part(buffer)
    model = schema.ModelT.InitFromPackedBuf(buffer, 0)
    if len(model.subgraphs) != 1:
        raise ValueError(f"MediaPipe needs a single-subgraph model, this one has {len(model.subgraphs)}.")
    subgraph = model.subgraphs[0]
    if len(subgraph.inputs) != 1 or len(subgraph.outputs) != 1:
        raise ValueError("expected one image input and one score output, got "
                         f"{len(subgraph.inputs)} inputs and {len(subgraph.outputs)} outputs.")
    input_tensor = subgraph.tensors[subgraph.inputs[0]]
    output_shape = list(subgraph.tensors[subgraph.outputs[0]].shape)
    class_names = [str(name) for name in class_names]
    if output_shape[-1] != len(class_names):
        raise ValueError(f"class_names has {len(class_names)} names; the model outputs {output_shape[-1]} classes "
                         f"(output shape {output_shape}).")
    bad = [name for name in class_names if not name.strip() or "\n" in name or "\r" in name]
    if bad:
        raise ValueError(f"class_names must be non-empty single-line names, got {bad!r}.")
    input_is_float = input_tensor.type == schema.TensorType.FLOAT32

    metadata = _metadata_buffer(model_name, class_names, input_is_float, activation)
    entry = schema.BufferT()
    entry.data = np.frombuffer(metadata, np.uint8)
    model.buffers.append(entry)
    model.metadata = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    pointer = schema.MetadataT()
    pointer.name = METADATA_NAME
    pointer.buffer = len(model.buffers) - 1
    model.metadata.append(pointer)
    packed = pack_flatbuffer(model, b"TFL3")

    archive = io.BytesIO(packed)
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(LABEL_FILE, "\n".join(class_names) + "\n")
    return archive.getvalue()


def _name(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _flatbuffer_part(buffer):
    """The flatbuffer in front of an appended zip archive (the zip's first local header starts after it)."""
    with zipfile.ZipFile(io.BytesIO(buffer)) as zf:
        start = min(info.header_offset for info in zf.infolist())
    return buffer[:start] if start else buffer


def read_segmenter_metadata(path_or_bytes):
    """Reads back what MediaPipe's `ImageSegmenter` will find in a `.tflite` file.

    Args:
        path_or_bytes: a `.tflite` path or its bytes.

    Returns:
        dict with name, min_parser_version, mean, std, color_space, activation ("SOFTMAX", ...), labels (the
        lines of the label file), or None when the model has no `TFLITE_METADATA`.

    Raises:
        ImportError: the `mediapipe` wheel is missing.
    """
    schema, md, seg = _schemas()
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        buffer = bytes(path_or_bytes)
    else:
        with open(os.fspath(path_or_bytes), "rb") as f:
            buffer = f.read()
    model = schema.Model.GetRootAs(buffer, 0)
    index = next((model.Metadata(i).Buffer() for i in range(model.MetadataLength())
                  if _name(model.Metadata(i).Name()) == METADATA_NAME), None)
    if index is None:
        return None
    raw = model.Buffers(index).DataAsNumpy().tobytes()
    metadata = md.ModelMetadataT.InitFromPackedBuf(raw, 0)
    subgraph = metadata.subgraphMetadata[0]
    image = subgraph.inputTensorMetadata[0]
    normalization = next(u.options for u in image.processUnits or []
                         if u.optionsType == md.ProcessUnitOptions.NormalizationOptions)
    activation = None
    for custom in subgraph.customMetadata or []:
        if _name(custom.name) == SEGMENTER_METADATA_NAME:
            options = seg.ImageSegmenterOptionsT.InitFromPackedBuf(bytes(bytearray(custom.data)), 0)
            activation = ACTIVATIONS[options.activation]
    label_file = next(_name(f.name) for f in subgraph.outputTensorMetadata[0].associatedFiles or []
                      if f.type == md.AssociatedFileType.TENSOR_AXIS_LABELS)
    with zipfile.ZipFile(io.BytesIO(buffer)) as zf:
        labels = zf.read(label_file).decode().splitlines()
    color_spaces = {v: k for k, v in vars(md.ColorSpaceType).items() if not k.startswith("_")}
    return {
        "name": _name(metadata.name),
        "min_parser_version": _name(metadata.minParserVersion),
        "mean": [float(v) for v in normalization.mean],
        "std": [float(v) for v in normalization.std],
        "color_space": color_spaces[image.content.contentProperties.colorSpace],
        "activation": activation,
        "labels": labels,
    }
