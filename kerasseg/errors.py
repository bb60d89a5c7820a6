"""The exceptions kerasseg raises for names it does not know (models, backbones, datasets, export formats).

One family, one message shape: `UnknownNameError` is a `ValueError`, so callers that already catch
`ValueError` keep working, and the CLI prints its message as one line.
"""


class UnknownNameError(ValueError):
    """A name (model, backbone, dataset, format, ...) that is not one of the valid choices.

    Args:
        kind: what was looked up, e.g. "model" or "backbone".
        name: the name that was given.
        valid: the names that exist.

    The message reads "unknown model 'enett'; valid: deeplabv3plus, enet, ...".
    """

    def __init__(self, kind, name, valid):
        self.kind = kind
        self.name = name
        self.valid = tuple(valid)
        super().__init__(unknown_name_message(kind, name, self.valid))

    def __reduce__(self):  # picklable (multiprocessing, pytest-xdist) despite the custom signature
        return type(self), (self.kind, self.name, self.valid)


def unknown_name_message(kind, name, valid):
    """The message of an `UnknownNameError`: "unknown KIND 'NAME'; valid: A, B, C".

    Args:
        kind: what was looked up.
        name: the name that was given.
        valid: the valid names (listed in the order given).

    Returns:
        The message (a str).
    """
    return f"unknown {kind} {name!r}; valid: {', '.join(map(str, valid))}"


def check_name(kind, name, valid):
    """Returns `name` when it is one of `valid`, else raises `UnknownNameError`.

    Args:
        kind: what is looked up, for the message.
        name: the name to check.
        valid: the valid names.

    Returns:
        `name`.
    """
    valid = tuple(valid)
    if name not in valid:
        raise UnknownNameError(kind, name, valid)
    return name
