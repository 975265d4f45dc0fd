"""Errors whose message is written for the user.

Everything the engine refuses (bad files, bad data, impossible recipes) raises a
StudioError subclass with a message that names the file or field and says what to do.
The CLI prints it as one `error: …` line and the window shows it in a dialog; any other
exception is a bug in the studio, not the user's fault.
"""


class StudioError(Exception):
    """A problem the user can fix; `str(err)` is the whole message."""


def first_line(err: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (libraries raise pages), or its type."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + " …"  # whole words: never "…allow Lambd"


def reading_problem(err: BaseException) -> str:
    """Why a file could not be read, in a user's words (not 'JSONDecodeError' or
    "'utf-8' codec can't decode byte 0x99")."""
    import json

    if isinstance(err, UnicodeDecodeError):
        return (
            f"it is not a text file (byte {err.start} is not UTF-8 text): is it the right "
            f"file, or was it damaged?"
        )
    if isinstance(err, json.JSONDecodeError):
        return (
            f"it is not valid JSON at line {err.lineno}, column {err.colno} (cut short, or "
            f"edited by hand?)"
        )
    if isinstance(err, OSError):
        return err.strerror or first_line(err)
    return first_line(err)


class ModelError(StudioError):
    """The model file is missing, damaged, unsupported or untrusted."""


class UntrustedModelError(ModelError):
    """The model file would run code (Lambda, custom layers); it loads only if trusted."""


class DataError(StudioError):
    """The data set is missing, empty, or does not fit the model."""


class RecipeError(StudioError):
    """A recipe field has an impossible value; the message names the field."""


class ConversionError(StudioError):
    """The TFLite converter refused the model."""


class MeasureError(StudioError):
    """A .tflite file could not be loaded or run by LiteRT."""
