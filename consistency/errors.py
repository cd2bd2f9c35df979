"""The base of every error that means the user's input is wrong.

The CLI shows these as one ``error:`` line, without a traceback; anything else is a bug
and keeps its traceback.
"""


class UserError(Exception):
    """Bad input: a malformed suite or answers file, a missing model, an unknown name."""
