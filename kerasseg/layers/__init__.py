"""Serializable Keras layers shared by the models. Each one converts to builtin TFLite ops and to ONNX."""
from kerasseg.layers.channel_pad import ChannelZeroPad
from kerasseg.layers.preprocess import ImagePreprocess
from kerasseg.layers.resize import Resize
from kerasseg.layers.unpool import MaxUnpooling2D

__all__ = ["ChannelZeroPad", "ImagePreprocess", "MaxUnpooling2D", "Resize"]
