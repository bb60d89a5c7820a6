"""Serializable Keras layers and blocks shared by the models. Each one converts to builtin TFLite ops and to ONNX."""
from kerasseg.layers.aspp import ATROUS_RATES, aspp, image_pooling
from kerasseg.layers.bilinear import BilinearUpsamplingKernel, bilinear_kernel_2d
from kerasseg.layers.channel_pad import ChannelZeroPad
from kerasseg.layers.conv_bn_act import activation_layer, batch_normalization, conv_bn_act
from kerasseg.layers.crop import CropToReference
from kerasseg.layers.flow_alignment import FlowWarp, flow_alignment_module
from kerasseg.layers.head import segmentation_head
from kerasseg.layers.normalization import BatchNormalization
from kerasseg.layers.preprocess import ImagePreprocess
from kerasseg.layers.prelu import PReLU
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
    "ATROUS_RATES",
    "AdaptiveAveragePooling2D",
    "BatchNormalization",
    "BilinearUpsamplingKernel",
    "ChannelZeroPad",
    "CropToReference",
    "FlowWarp",
    "ImagePreprocess",
    "MaxUnpooling2D",
    "PReLU",
    "Resize",
    "aspp",
    "bilinear_kernel_2d",
    "chained_residual_pooling",
    "activation_layer",
    "batch_normalization",
    "conv_bn_act",
    "flow_alignment_module",
    "image_pooling",
    "multi_resolution_fusion",
    "pyramid_pooling_module",
    "residual_conv_unit",
    "residual_conv_units",
    "segmentation_head",
]
