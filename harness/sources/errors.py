"""The error every chart source raises for bad input."""


class DataError(ValueError):
    """Input data that cannot be read as charts; the message names the file (and line) and the problem."""
