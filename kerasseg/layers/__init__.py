"""Serializable Keras layers shared by the models. Each one converts to builtin TFLite ops and to ONNX."""
from kerasseg.layers.aspp import ATROUS_RATES, aspp, conv_bn_relu, image_pooling
from kerasseg.layers.bilinear import BilinearUpsamplingKernel, bilinear_kernel_2d
from kerasseg.layers.channel_pad import ChannelZeroPad
from kerasseg.layers.crop import CropToReference
from kerasseg.layers.preprocess import ImagePreprocess
from kerasseg.layers.resize import Resize
from kerasseg.layers.unpool import MaxUnpooling2D

__all__ = [
    "ATROUS_RATES",
    "BilinearUpsamplingKernel",
    "ChannelZeroPad",
    "CropToReference",
    "ImagePreprocess",
    "MaxUnpooling2D",
    "Resize",
    "aspp",
    "bilinear_kernel_2d",
    "conv_bn_relu",
    "image_pooling",
]
