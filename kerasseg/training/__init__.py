"""Training: recipes (YAML), losses/metrics wiring, schedules, distribution strategy and `model.fit`."""
from kerasseg.training.config import ConfigError, load_config, save_config, validate_config
from kerasseg.training.fit import (FitResult, evaluate_model, fit, format_iou_table, get_strategy,
                                   make_optimizer, poly_schedule)
from kerasseg.training.inputs import SplitData, build_datasets

__all__ = [
    "ConfigError", "FitResult", "SplitData", "build_datasets", "evaluate_model", "fit", "format_iou_table",
    "get_strategy", "load_config", "make_optimizer", "poly_schedule", "save_config", "validate_config",
]
