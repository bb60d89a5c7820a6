"""Serializable Keras layers and blocks shared by the models. Each one converts to builtin TFLite ops and to ONNX."""
from kerasseg.layers.channel_pad import ChannelZeroPad
from kerasseg.layers.flow_alignment import FlowWarp, flow_alignment_module
from kerasseg.layers.pyramid_pooling import AdaptiveAveragePooling2D, pyramid_pooling_module
from kerasseg.layers.refinenet import (
    chained_residual_pooling,
    multi_resolution_fusion,
    residual_conv_unit,
    residual_conv_units,
)
from kerasseg.layers.resize import Resize
from kerasseg.layers.unpool import MaxUnpooling2D

__all__ = [
    "AdaptiveAveragePooling2D",
    "ChannelZeroPad",
    "FlowWarp",
    "MaxUnpooling2D",
    "Resize",
    "chained_residual_pooling",
    "flow_alignment_module",
    "multi_resolution_fusion",
    "pyramid_pooling_module",
    "residual_conv_unit",
    "residual_conv_units",
]
