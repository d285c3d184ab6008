"""Bounds on a server's input: decoded-frame limits, safe kind names and text, the bounded trace."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.live import messages as wire
from monitor.live.bounds import KIND_CHARS, kind_name, normalise, safe_text
from monitor.live.conversation import DROPPED_KIND, MessageLog, Trace
from monitor.live.errors import ProtocolError
from monitor.probe.target import ProbeLimits

SAFE = re.compile(rf"[A-Za-z0-9_]{{0,{KIND_CHARS}}}(~\d+)?")


class TestNormalise:
    def test_rewrites_snake_case_keys_at_every_level(self) -> None:
        """Keys become camelCase in nested objects and lists alike."""
        value = {"server_content": {"model_turn": {"parts": [{"inline_data": {}}]}}}
        assert normalise(value, depth=8, integer_digits=18) == {
            "serverContent": {"modelTurn": {"parts": [{"inlineData": {}}]}}
        }

    def test_nesting_past_the_depth_limit_is_a_protocol_error_naming_it(self) -> None:
        """Depth N passes at limit N and fails at limit N - 1."""
        value: object = {}
        for _ in range(9):
            value = {"a": value}  # ten objects deep
        assert normalise(value, depth=10, integer_digits=18)
        with pytest.raises(ProtocolError, match=r"limits\.json_depth 9"):
            normalise(value, depth=9, integer_digits=18)

    @pytest.mark.parametrize("number", [10**18, -(10**18), 10**400])
    def test_integers_longer_than_the_limit_are_refused(self, number: int) -> None:
        """19 digits are refused under an 18-digit limit, 18 nines pass."""
        assert normalise({"n": 10**18 - 1}, depth=4, integer_digits=18) == {"n": 10**18 - 1}
        with pytest.raises(ProtocolError, match=r"limits\.integer_digits 18"):
            normalise({"n": number}, depth=4, integer_digits=18)

    @pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
    def test_non_finite_numbers_are_refused(self, number: float) -> None:
        """1e400 decodes to infinity: refused, as are NaN and -Infinity."""
        with pytest.raises(ProtocolError, match="not a finite double"):
            normalise([number], depth=4, integer_digits=18)

    def test_booleans_are_not_counted_as_integers(self) -> None:
        """True stays True even under a one-digit limit."""
        assert normalise({"b": True}, depth=4, integer_digits=1) == {"b": True}


class TestParseLimits:
    def test_deep_nesting_from_the_wire_is_a_protocol_error(self) -> None:
        """10k levels are decoded and refused by the bounded walk at json_depth, never a RecursionError;
        100k levels are refused before decoding, as more containers than a frame may hold."""
        frame = '{"serverContent":' + "[" * 10_000 + "]" * 10_000 + "}"
        with pytest.raises(ProtocolError, match="json_depth"):
            wire.parse_server_frame(frame)
        frame = '{"serverContent":' + "[" * 100_000 + "]" * 100_000 + "}"
        with pytest.raises(ProtocolError, match="100001 JSON objects and arrays, more than 16384"):
            wire.parse_server_frame(frame)

    def test_a_frame_of_a_million_objects_is_refused_before_it_is_decoded(self) -> None:
        """What a frame may hold in objects, arrays, array entries and function calls, each bounded."""
        calls = '{"toolCall":{"functionCalls":[' + ",".join(['{"id":"a","name":"b"}'] * 1_000_000) + "]}}"
        with pytest.raises(ProtocolError, match="1000003 JSON objects and arrays, more than 16384"):
            wire.parse_server_frame(calls.encode())
        with pytest.raises(ProtocolError, match="array of 5000 entries, more than 4096"):
            wire.parse_server_frame(
                '{"serverContent":{"modelTurn":{"parts":[' + ",".join(['"x"'] * 5000) + "]}}}"
            )
        with pytest.raises(ProtocolError, match="toolCall with 65 functionCalls, more than 64"):
            wire.parse_server_frame('{"toolCall":{"functionCalls":[' + ",".join(['{"id":"a"}'] * 65) + "]}}")
        many = wire.parse_server_frame(
            '{"toolCall":{"functionCalls":[' + ",".join(['{"id":"a"}'] * 64) + "]}}"
        )
        assert len(many.function_calls) == 64

    def test_a_1e400_token_count_is_a_protocol_error(self) -> None:
        """The float overflows to infinity, which is refused before any int() conversion."""
        with pytest.raises(ProtocolError, match="finite"):
            wire.parse_server_frame('{"usageMetadata": {"promptTokenCount": 1e400}}')

    @pytest.mark.parametrize("count", ["-1", "1.5", "12345678901234567890", '"9e9"', "true"])
    def test_token_counts_that_are_not_counts_are_refused(self, count: str) -> None:
        """Negative, fractional, over-long, exponent strings and booleans are all protocol errors."""
        with pytest.raises(ProtocolError):
            wire.parse_server_frame('{"usageMetadata": {"promptTokenCount": %s}}' % count)  # noqa: UP031

    def test_int64_counts_as_strings_are_accepted(self) -> None:
        """proto3 JSON may write int64 as a string of digits."""
        usage = wire.parse_server_frame('{"usageMetadata": {"promptTokenCount": "509"}}').usage
        assert usage is not None
        assert usage.prompt_tokens == 509

    def test_unknown_keys_beyond_four_are_counted_in_one_entry(self) -> None:
        """A frame of many unknown keys adds at most five entries to the wire pattern."""
        frame = {"setupComplete": {}, **{f"x{i}": 0 for i in range(10)}}
        assert wire.parse_server_frame(json.dumps(frame)).kinds == (
            "setupComplete", "x0", "x1", "x2", "x3", "more_keys~6",
        )  # fmt: skip

    def test_the_no_known_message_error_names_keys_safely(self) -> None:
        """The detail carries sanitised names and the key count, never the raw key."""
        with pytest.raises(ProtocolError) as caught:
            wire.parse_server_frame('{"\\u001b[31m<b>": 1}')
        assert "\x1b" not in str(caught.value)
        assert "<b>" not in str(caught.value)
        assert "of 1" in str(caught.value)


class TestKindName:
    @given(st.text(max_size=200))
    def test_every_key_becomes_a_short_ascii_kind(self, key: str) -> None:
        """Any string (lone surrogates, controls, Markdown, 200 characters) maps to ASCII [A-Za-z0-9_~]."""
        name = kind_name(key)
        assert SAFE.fullmatch(name), name
        name.encode("ascii")

    def test_identifiers_are_kept_as_they_are(self) -> None:
        """A new real message type (an identifier) stays readable."""
        assert kind_name("voiceActivityDetectionSignal") == "voiceActivityDetectionSignal"

    def test_rewritten_names_carry_the_original_length(self) -> None:
        """A lone surrogate and a 10 kB key are recognisable as rewritten."""
        assert kind_name("\ud800") == "_~1"
        assert kind_name("k" * 10_000) == "k" * KIND_CHARS + "~10000"


class TestSafeText:
    def test_controls_and_surrogates_are_escaped_and_the_text_cut(self) -> None:
        """ESC, NUL and a lone surrogate become visible escapes; the result encodes as UTF-8."""
        text = safe_text("a\x1b[31mb\x00c\ud800" + "x" * 1000)
        assert text.startswith("a\\x1b[31mb\\x00c\\ufffd")
        assert len(text) < 330
        text.encode("utf-8")


class TestBoundedTrace:
    def test_the_message_log_keeps_the_first_and_last_n_and_counts_the_rest(self) -> None:
        """1,000 entries with N = 3: three, one dropped marker at the first dropped mark, three."""
        log = MessageLog(keep=3)
        for i in range(1000):
            log.append(f"m{i}", float(i))
        assert list(log) == [
            ("m0", 0.0), ("m1", 1.0), ("m2", 2.0), (DROPPED_KIND, 3.0),
            ("m997", 997.0), ("m998", 998.0), ("m999", 999.0),
        ]  # fmt: skip
        assert log.dropped == 994
        assert log.last_at == 999.0

    def test_audio_past_the_limit_is_counted_not_kept(self) -> None:
        """Chunks beyond the kept bytes add to the dropped count and their MIME type is remembered."""
        trace = Trace.within(ProbeLimits(audio_bytes=300))
        chunk = wire.AudioChunk("audio/pcm;rate=24000", bytes(300))
        trace.add_audio([chunk, chunk, wire.AudioChunk("audio/pcm;rate=8000", bytes(300))])
        assert trace.audio == [chunk]
        assert (trace.audio_kept_bytes, trace.audio_dropped_bytes) == (300, 600)
        assert trace.dropped_mimes == {"audio/pcm;rate=24000", "audio/pcm;rate=8000"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=30,
)


@given(
    st.dictionaries(
        st.sampled_from(["setupComplete", "goAway", "usageMetadata"]) | st.text(), _JSON, max_size=6
    )
)
def test_any_frame_is_a_message_with_safe_kinds_or_a_protocol_error(frame: dict[str, object]) -> None:
    """Arbitrary keys (surrogates, controls) and values (huge, non-finite): never another exception type."""
    try:
        message = wire.parse_server_frame(json.dumps(frame))
    except ProtocolError as error:
        str(error).encode("utf-8")  # the detail is storable
        return
    for kind in message.kinds:
        assert re.fullmatch(r"[A-Za-z0-9_.~]{1,60}", kind), kind
