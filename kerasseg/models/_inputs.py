"""Argument checks shared by the model builders."""


def check_model_arguments(model_name, num_classes, input_shape, size_divisor):
    """Validates `num_classes` and `input_shape` and returns the shape as a tuple.

    Args:
        model_name: the architecture, for the error messages.
        num_classes: number of output classes (>= 1).
        input_shape: (height, width, 3); None for a dimension known only at run time.
        size_divisor: height and width, where given, must be multiples of it.

    Returns:
        `input_shape` as a tuple.

    Raises:
        ValueError: naming the argument that is wrong.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {input_shape}.")
    for dim, size in zip(("height", "width"), input_shape[:2]):
        if size is not None and (size < 1 or size % size_divisor):
            raise ValueError(f"{model_name} needs the input {dim} to be a multiple of {size_divisor}, got {size}.")
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    return input_shape


def check_choice(argument, value, choices):
    """Raises a ValueError naming `argument` and the valid `choices` when `value` is not one of them."""
    if value not in choices:
        raise ValueError(f"{argument} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value
