"""`kerasseg.litert.runtime`'s flatbuffer readers on files whose answers are known."""
import numpy as np
import tensorflow as tf

from kerasseg.litert.runtime import graph_summary, non_builtin_ops, resize_rgb, tflite_op_counts


def _convert(fn, spec):
    concrete = tf.function(fn, input_signature=[spec]).get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()


def test_graph_summary_finds_dynamic_shapes_and_argmax():
    kernel = tf.constant(np.ones((1, 1, 3, 4), np.float32))
    flatbuffer = _convert(lambda x: tf.argmax(tf.nn.conv2d(x, kernel, 1, "SAME"), axis=-1),
                          tf.TensorSpec([None, 8, 8, 3], tf.float32))
    summary = graph_summary(flatbuffer)
    assert summary["subgraphs"] == 1
    assert summary["has_argmax"]
    assert summary["dynamic_tensors"]  # the batch is -1 in the shape signatures
    assert summary["input_shape"] == [1, 8, 8, 3] and summary["input_dtype"] == "float32"
    assert summary["output_shape"] == [1, 8, 8] and summary["output_dtype"] == "int64"
    counts = tflite_op_counts(flatbuffer)
    assert counts["ARG_MAX"] == 1 and counts["CONV_2D"] == 1
    assert non_builtin_ops(flatbuffer) == []


def test_static_graph_has_no_dynamic_tensors():
    flatbuffer = _convert(lambda x: tf.nn.relu(x) * 2.0, tf.TensorSpec([1, 4, 4, 3], tf.float32))
    summary = graph_summary(flatbuffer)
    assert summary["dynamic_tensors"] == [] and not summary["has_argmax"]
    assert sum(tflite_op_counts(flatbuffer).values()) >= 1


def test_resize_rgb_keeps_the_size_it_has_and_clips_what_it_resizes():
    image = np.full((4, 6, 3), 100.5, np.float32)
    same = resize_rgb(image, 4, 6)
    assert same.dtype == np.float32 and np.array_equal(same, image)  # not rounded when no resize is needed
    for value, clipped in ((260.0, 255.0), (-5.0, 0.0)):  # floats just outside the pixel range: clipped, not wrapped
        resized = resize_rgb(np.full((4, 6, 3), value, np.float32), 8, 12)
        assert resized.shape == (8, 12, 3) and resized.dtype == np.float32 and (resized == clipped).all()
