"""Exceptions, split by who is at fault.

``FormatError`` means the bytes break the spec (``spec/vq-format.md``); its ``field`` names
the header field or section at fault (``"payload"``, ``"header_crc"``, ...), its message says
what is wrong. Other ``VQError``\\ s mean an input image vqcodec cannot take. Caller mistakes
(a wrong type, ``bits=9``) raise plain ``TypeError``/``ValueError``.
"""


class VQError(ValueError):
    """Base of every error vqcodec raises about data (files or images)."""


class FormatError(VQError):
    """A byte string that is not a valid .vq file.

    ``field`` is the spec's name of the field or section at fault; ``str(error)`` is
    ``"field: what is wrong"``.
    """

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(field, detail)
        self.field = field
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"
