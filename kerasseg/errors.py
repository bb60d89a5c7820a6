"""The error family for names kerasseg does not know: models, datasets, losses, schedules, options.

Every such error is a `ValueError` whose message reads "unknown <what> '<name>'; valid: a, b, c", so a user
sees the same sentence whether the name came from a recipe, the command line or Python.
"""


class UnknownNameError(ValueError, KeyError):
    """A name (model, dataset, option, ...) that is not one of the valid choices.

    It is a `ValueError`; it is also a `KeyError` so that code written against the older registry (which raised
    `KeyError`) keeps working.

    Args:
        what: what kind of name it is ("model", "dataset", "option 'x' in data.train", ...).
        name: the name that was given.
        valid: the valid names.
        where: optional suffix, e.g. "in data.train for dataset 'shapes'".
    """

    def __init__(self, what, name, valid, where=""):
        self.what, self.name, self.valid = what, name, tuple(valid)
        where = f" {where}" if where else ""
        message = f"unknown {what} {name!r}{where}; valid: {', '.join(str(v) for v in self.valid) or '(none)'}"
        super().__init__(message)

    def __str__(self):  # KeyError would repr() the message
        return self.args[0]


def check_name(what, name, valid, where=""):
    """Returns `name` if it is in `valid`, else raises `UnknownNameError`.

    Args:
        what: what kind of name it is, for the message.
        name: the given name.
        valid: the valid names.
        where: optional context for the message.

    Returns:
        `name`.
    """
    if name not in valid:
        raise UnknownNameError(what, name, valid, where)
    return name
