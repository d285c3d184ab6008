"""The streamed-frame fast path of `parse_server_frame` against the general path, on generated frames.

The fast path decodes audio, transcription and completion frames straight into types; every frame it takes
must give exactly the message the general path gives, and every frame the general path refuses is left to it.
The frames are generated around the streamed shape: both key spellings, extra keys, nulls, wrong types, empty
objects, long MIME types, duplicate keys, a byte of invalid UTF-8.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.live import messages as wire
from monitor.live.errors import ProtocolError

_ODD = st.one_of(st.none(), st.integers(-5, 5), st.booleans(), st.text(max_size=5), st.just({}), st.just([]))
_MIMES = st.one_of(
    st.just("audio/pcm;rate=24000"),
    st.just("audio/pcm"),
    st.text(max_size=8),
    st.just("audio/pcm;rate=" + "2" * 120),
)


def _weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as often as its weight (one_of alone draws the branches evenly)."""
    pool = [strategy for weight, strategy in options for _ in range(weight)]
    return st.integers(0, len(pool) - 1).flatmap(lambda index: pool[index])


def _maybe(key: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`{key: value}`, `{}`, or `{key: something odd}`; the key sometimes in snake_case."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
    name = _weighted((15, st.just(key)), (1, st.just(snake)))
    good = st.builds(lambda k, v: {k: v}, name, value)
    return _weighted((1, st.just({})), (8, good), (1, st.builds(lambda k, v: {k: v}, name, _ODD)))


def _rare(key: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A key the fast path does not take, present one time in ten."""
    return _weighted((9, st.just({})), (1, st.builds(lambda v: {key: v}, value)))


def _merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda dicts: {k: v for d in dicts for k, v in d.items()})


# Base64 and its edge forms: both paths must decode, or refuse, exactly what strict base64 does ("0000=" and
# "AAE" are refused by msgspec, a newline reaches the decoder as a JSON escape).
_DATA = st.one_of(
    st.sampled_from(
        [
            "",
            "AAAA",
            "AAE=",
            "!",
            "0000=",
            "AAAA====",
            "AAE",
            "A/AA",
            "AA-_",
            "AA==AA==",
        ]
    ),
    st.binary(max_size=9).map(lambda raw: base64.b64encode(raw).decode()),
    st.text(alphabet='AB/+=-_ \n\\"', max_size=9),
)
_BLOB = _merged(_maybe("mimeType", _MIMES), _maybe("data", _DATA))
_PART = _merged(_maybe("inlineData", _BLOB), _maybe("text", st.text(max_size=4)), _rare("thought", _ODD))
_TURN = _merged(_maybe("role", st.just("model")), _maybe("parts", st.lists(_PART, max_size=3)))
_SAID = _maybe("text", st.text(max_size=6))
_CONTENT = _merged(
    _maybe("modelTurn", _TURN),
    _maybe("inputTranscription", _SAID),
    _maybe("outputTranscription", _SAID),
    _maybe("generationComplete", st.booleans()),
    _maybe("turnComplete", st.booleans()),
    _maybe("interrupted", st.booleans()),
    _rare("groundingMetadata", _ODD),
)
_FRAME = _merged(
    _maybe("serverContent", _CONTENT),
    _rare("usageMetadata", st.fixed_dictionaries({"promptTokenCount": st.integers(0, 600)})),
    _rare("sessionResumptionUpdate", st.just({})),
)


def _general(data: bytes | str) -> wire.ServerMessage | ProtocolError:
    try:
        return wire._parse(data, depth=wire.DEFAULT_JSON_DEPTH, integer_digits=wire.DEFAULT_INTEGER_DIGITS)
    except ProtocolError as error:
        return error


def _both(data: bytes | str) -> bool:
    """Whether the fast path took the frame; fails if it disagrees with the general path."""
    expected = _general(data)
    streamed = wire._streamed(data)
    if isinstance(expected, ProtocolError):
        assert streamed is None, f"fast path took a frame the general path refuses: {expected}"
        with pytest.raises(ProtocolError, match=re.escape(str(expected))):
            wire.parse_server_frame(data)
        return False
    if streamed is not None:
        assert streamed == expected
    assert wire.parse_server_frame(data) == expected
    return streamed is not None


_TAKEN: list[bool] = []


@settings(max_examples=600, deadline=None)
@given(_FRAME, st.booleans(), st.booleans())
def test_a_streamed_frame_parses_as_the_general_path_parses_it(
    frame: dict[str, Any], pretty: bool, binary: bool
) -> None:
    text = json.dumps(frame, indent=2 if pretty else None)
    _TAKEN.append(_both(text.encode() if binary else text))


def test_the_generated_frames_exercise_both_paths() -> None:
    """Runs after the property (file order): a generator that never reached the fast path proves nothing."""
    assert len(_TAKEN) >= 100
    assert 0.2 < sum(_TAKEN) / len(_TAKEN) < 0.8, (sum(_TAKEN), len(_TAKEN))


def test_the_real_service_frames_take_the_fast_path() -> None:
    """The shapes the service streams are taken (the speed-up is real) and give the general path's message."""
    chunk = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAAAAQ=="}}
    frames = [
        {"serverContent": {"modelTurn": {"role": "model", "parts": [chunk]}}},
        {"serverContent": {"outputTranscription": {"text": "Hello"}}},
        {"serverContent": {"inputTranscription": {"text": "What"}}},
        {"serverContent": {"generationComplete": True}},
        {"serverContent": {"turnComplete": True}},
        {"serverContent": {"interrupted": True}},
    ]
    for frame in frames:
        data = json.dumps(frame, indent=2).encode()
        assert wire._streamed(data) is not None, frame
        _both(data)
    message = wire.parse_server_frame(json.dumps(frames[0]).encode())
    assert message.kinds == ("serverContent.modelTurn",)
    assert message.content is not None
    assert message.content.audio == (wire.AudioChunk("audio/pcm;rate=24000", b"\x00\x00\x00\x01"),)


@pytest.mark.parametrize(
    "data",
    [
        b'{"serverContent": {"turnComplete": true}, "serverContent": {}}',
        b'{"serverContent": {"modelTurn": {"parts": []}, "modelTurn": {}}}',
        b'{"serverContent": {"outputTranscription": {"text": "\\ud800"}}}',
        b'{"serverContent": {"outputTranscription": {"text": "\xff"}}}',
        b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "A", "data": 5}}]}}}',
        b'{"serverContent": []}',
        b"[]",
        b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "AA\\u0041A"}}]}}}',
        b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "AA\\/A"}}]}}}',
        b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "AA\\u0000A"}}]}}}',
    ],
)
def test_duplicate_keys_surrogates_and_bad_bytes_agree(data: bytes) -> None:
    _both(data)


def test_a_shallow_depth_limit_is_judged_by_the_general_path() -> None:
    chunk = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAAA"}}
    data = json.dumps({"serverContent": {"modelTurn": {"parts": [chunk]}}})
    with pytest.raises(ProtocolError, match="json_depth 5"):
        wire.parse_server_frame(data, depth=5)
    assert wire.parse_server_frame(data, depth=6).content is not None
