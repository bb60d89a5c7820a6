"""Training: recipes (YAML), losses/metrics wiring, schedules, distribution strategy and `model.fit`."""
from kerasseg.training.config import (ConfigError, apply_overrides, load_config, recipe_reference, save_config,
                                      validate_config)
from kerasseg.training.fit import (FitResult, evaluate_model, fit, format_iou_table, get_strategy,
                                   make_optimizer, mixed_precision_policy, poly_schedule, recipe_optimizer)
from kerasseg.training.inputs import SplitData, build_datasets
from kerasseg.training.resume import TrainingDiverged, TrainingInterrupted, TrainingStopped
from kerasseg.training.schedules import WarmupSchedule

__all__ = [
    "ConfigError", "FitResult", "SplitData", "TrainingDiverged", "TrainingInterrupted", "TrainingStopped",
    "WarmupSchedule", "apply_overrides", "build_datasets", "evaluate_model", "fit", "format_iou_table",
    "get_strategy", "load_config", "make_optimizer", "mixed_precision_policy", "poly_schedule",
    "recipe_optimizer", "recipe_reference", "save_config", "validate_config",
]
