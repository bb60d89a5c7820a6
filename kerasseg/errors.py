"""The exceptions kerasseg raises for names it does not know: models, backbones, datasets, export formats,
losses, schedules, reader and builder options.

One family, one message shape: `UnknownNameError` reads "unknown <kind> '<name>'; valid: a, b, c" whether the
name came from a recipe, the command line or Python, and the CLI prints it as one line. It is a `ValueError`,
and also a `KeyError` so that code written against the older registry (which raised `KeyError`) keeps working.
"""


class UnknownNameError(ValueError, KeyError):
    """A name that is not one of the valid choices.

    Args:
        kind: what was looked up, e.g. "model", "backbone", "option 'x'".
        name: the name that was given.
        valid: the names that exist.
        where: optional context appended to the name, e.g. "in data.train for dataset 'shapes'".

    The message reads "unknown model 'enett'; valid: deeplabv3plus, enet, ...".
    """

    def __init__(self, kind, name, valid, where=""):
        self.kind = kind
        self.name = name
        self.valid = tuple(valid)
        self.where = where
        super().__init__(unknown_name_message(kind, name, self.valid, where))

    def __str__(self):  # KeyError would repr() the message
        return self.args[0]

    def __reduce__(self):  # picklable (multiprocessing, pytest-xdist) despite the custom signature
        return type(self), (self.kind, self.name, self.valid, self.where)


def unknown_name_message(kind, name, valid, where=""):
    """The message of an `UnknownNameError`: "unknown KIND 'NAME'[ WHERE]; valid: A, B, C".

    Args:
        kind: what was looked up.
        name: the name that was given.
        valid: the valid names (listed in the order given).
        where: optional context after the name.

    Returns:
        The message (a str).
    """
    where = f" {where}" if where else ""
    return f"unknown {kind} {name!r}{where}; valid: {', '.join(map(str, valid)) or '(none)'}"


def check_name(kind, name, valid, where=""):
    """Returns `name` when it is one of `valid`, else raises `UnknownNameError`.

    Args:
        kind: what is looked up, for the message.
        name: the name to check.
        valid: the valid names.
        where: optional context for the message.

    Returns:
        `name`.
    """
    valid = tuple(valid)
    if name not in valid:
        raise UnknownNameError(kind, name, valid, where)
    return name
