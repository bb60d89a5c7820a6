"""Model builders, one file per architecture; each registers itself in `kerasseg.registry`."""
from kerasseg.models.auxiliary import inference_model
from kerasseg.models.deeplabv3plus import DeepLabV3Plus
from kerasseg.models.enet import ENet
from kerasseg.models.fcn import FCN8s, FCN16s, FCN32s
from kerasseg.models.refinenet import LightWeightRefineNet, RefineNet
from kerasseg.models.sfnet import SFNet

__all__ = ["DeepLabV3Plus", "ENet", "FCN8s", "FCN16s", "FCN32s", "LightWeightRefineNet", "RefineNet", "SFNet",
           "inference_model"]
