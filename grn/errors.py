"""The one error type for bad user input: train.py turns it into a one-line message."""


class InputError(ValueError):
    """Input data, ground truth or configuration that the pipeline cannot use, with the reason."""
