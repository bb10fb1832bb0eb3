"""Exceptions, split by who is at fault.

``FormatError`` means the bytes break the spec (``spec/vq-format.md``); its message names the
field or section at fault. Other ``VQError``\\ s mean an input image vqcodec cannot take.
Caller mistakes (a wrong type, ``bits=9``) raise plain ``TypeError``/``ValueError``.
"""


class VQError(ValueError):
    """Base of every error vqcodec raises about data (files or images)."""


class FormatError(VQError):
    """A byte string that is not a valid .vq file; the message names the field or section."""
