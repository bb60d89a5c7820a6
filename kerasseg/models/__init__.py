"""Model builders, one file per architecture; each registers itself in `kerasseg.registry`."""
from kerasseg.models.auxiliary import inference_model
from kerasseg.models.enet import ENet
from kerasseg.models.refinenet import LightWeightRefineNet, RefineNet
from kerasseg.models.sfnet import SFNet

__all__ = ["ENet", "LightWeightRefineNet", "RefineNet", "SFNet", "inference_model"]
