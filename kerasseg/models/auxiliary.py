"""Auxiliary (deep-supervision) outputs: training with `model.fit`, deploying without them.

A model built with auxiliary heads (e.g. `SFNet(..., auxiliary_heads=True)`) returns a dict of logits, all at
input resolution: the main output under `MAIN_OUTPUT` ("logits") and one entry per auxiliary head. Keras
trains such a model with one loss per output, so the labels are repeated for every output:

    model = kerasseg.models.SFNet(19, auxiliary_heads=True)
    losses, loss_weights = auxiliary_losses(model, SegmentationCrossEntropy(19), aux_loss_weight=0.4)
    model.compile(optimizer, loss=losses, loss_weights=loss_weights, metrics={"logits": [MeanIoU(19)]})
    model.fit(train_ds.map(repeat_labels(model)), validation_data=val_ds.map(repeat_labels(model)))
    deploy = inference_model(model)  # same layers and weights, logits only: save / export this one

`kerasseg train` does all of this and writes the inference model as `best.keras`, so `kerasseg export` and
`kerasseg evaluate` never see the auxiliary heads.
"""
import keras

from kerasseg.segmentation_model import SegmentationModel

MAIN_OUTPUT = "logits"


def output_names(model):
    """The output names of a model with dict outputs, main output first; [] for a single-output model."""
    structure = model.output
    if not isinstance(structure, dict):
        return []
    if MAIN_OUTPUT not in structure:
        raise ValueError(f"model {model.name!r} has dict outputs {sorted(structure)} without {MAIN_OUTPUT!r}.")
    return [MAIN_OUTPUT] + sorted(name for name in structure if name != MAIN_OUTPUT)


def has_auxiliary_outputs(model):
    """Whether `model` returns a dict with auxiliary logits besides the main ones."""
    return len(output_names(model)) > 1


def inference_model(model):
    """The model without its auxiliary heads: same input, the main logits only, sharing layers and weights.

    Args:
        model: a `keras.Model`; single-output models are returned unchanged.

    Returns:
        A model named like `model`; a `SegmentationModel` keeps its spec (size divisor, classes, ...).
    """
    if not isinstance(model.output, dict):
        return model
    output_names(model)  # checks MAIN_OUTPUT is there
    if isinstance(model, SegmentationModel):
        return SegmentationModel(model.input, model.output[MAIN_OUTPUT], name=model.name, spec=model.spec)
    return keras.Model(model.input, model.output[MAIN_OUTPUT], name=model.name)


def auxiliary_losses(model, loss, aux_loss_weight=0.4):
    """Per-output losses and loss weights for `model.compile`.

    Args:
        model: a model with dict outputs (see `output_names`).
        loss: the loss applied to every output (e.g. `SegmentationCrossEntropy`).
        aux_loss_weight: weight of each auxiliary loss; the main loss has weight 1.

    Returns:
        (losses, loss_weights): two dicts keyed by output name.
    """
    names = output_names(model)
    if not names:
        raise ValueError(f"model {model.name!r} has a single output; compile it with the loss itself.")
    if aux_loss_weight < 0:
        raise ValueError(f"aux_loss_weight must be >= 0, got {aux_loss_weight}.")
    return ({name: loss for name in names},
            {name: 1.0 if name == MAIN_OUTPUT else float(aux_loss_weight) for name in names})


def repeat_labels(model):
    """A `tf.data` map function `(image, label) -> (image, {output: label})` for a model with dict outputs."""
    names = output_names(model)
    if not names:
        raise ValueError(f"model {model.name!r} has a single output; its labels need no repeating.")

    def repeat(image, label):
        return image, {name: label for name in names}

    return repeat
