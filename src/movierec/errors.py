"""Errors that a stage reports as a plain message (no stack trace) and a non-zero exit."""


class MovieRecError(Exception):
    """Base class: the message alone tells the user what went wrong and what to do."""


class DownloadError(MovieRecError):
    """A dataset could not be fetched, verified or unpacked."""


class DataValidationError(MovieRecError):
    """Input data broke the schema; the message names the file, the lines and the count."""
