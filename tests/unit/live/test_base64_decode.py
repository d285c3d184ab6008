"""The fast base64 decoder of audio frames accepts and refuses exactly what strict `base64.b64decode` does."""

from __future__ import annotations

import base64
import binascii

from hypothesis import given
from hypothesis import strategies as st

from monitor.live.messages import _base64


def _reference(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@given(st.binary(max_size=600))
def test_every_encoding_decodes_to_its_bytes(raw: bytes) -> None:
    """Any byte string, standard-encoded, comes back unchanged."""
    assert _base64(base64.b64encode(raw).decode()) == raw


@given(st.text(alphabet='ABCabc019+/=-_ \n\\"\x00é', max_size=40))
def test_arbitrary_text_is_judged_as_strict_base64_judges_it(text: str) -> None:
    """Padding, URL-safe characters, whitespace, quotes, backslashes, NUL, non-ASCII: the same verdict."""
    assert _base64(text) == _reference(text)
