"""Model builders, one file per architecture; each registers itself in `kerasseg.registry`."""
from kerasseg.models.enet import ENet

__all__ = ["ENet"]
