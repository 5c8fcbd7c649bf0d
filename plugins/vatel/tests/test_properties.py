"""Properties of the codec over generated server input (hypothesis).

* Whatever a server sends, the codec never raises, and every event it emits
  is a valid normalized event (peer misbehaviour is an event, never a crash).
* Agent text deltas always reconstruct the text.
* Agent audio arrives byte for byte, however the server chunks it.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceadapters.config import parse_config, resolve_config
from voiceadapters.events import AgentAudio, AgentText, EventAdapter, SessionEnded
from voiceadapters.handshake import HttpResponse
from voiceadapters_vatel import VatelCodec, VatelProvider, messages

SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
KNOWN = sorted(messages.SERVER_MESSAGE_TYPES)
FIELDS = [
    "id", "turn_id", "audio", "is_final", "text", "transcript", "emulated",
    "toolCallId", "toolName", "arguments", "tool_call_id", "tool_name", "name", "value",
]  # fmt: skip

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=8,
)
message = st.fixed_dictionaries(
    {"type": st.sampled_from(KNOWN) | st.text(max_size=8)},
    optional={"data": st.dictionaries(st.sampled_from(FIELDS), json_value) | json_value},
)
frame = (
    message.map(lambda m: json.dumps(m))
    | st.text(max_size=30)
    | st.binary(max_size=30)
    | json_value.map(json.dumps)
)


def open_codec() -> VatelCodec:
    provider = VatelProvider()
    config = resolve_config(parse_config("vatel://?agent_id=a"), provider, api_key="k", environ={})
    codec = provider.make_codec(config)
    codec.receive_http_response(HttpResponse(200, b'{"token":"t"}'))
    codec.connection_opened()
    return codec


@SETTINGS
@given(st.lists(frame, max_size=12))
def test_no_server_input_makes_the_codec_raise(frames: list[Any]) -> None:
    codec = open_codec()
    events = []
    for item in frames:
        codec.receive_frame(item)
        events += codec.events_received()
    for event in events:
        assert EventAdapter.validate_python(event.model_dump()) == event
    ended = [i for i, e in enumerate(events) if isinstance(e, SessionEnded)]
    assert ended in ([], [len(events) - 1]), "session_ended is last and once"


@SETTINGS
@given(
    st.lists(
        st.tuples(st.sampled_from(["t1", "t2"]), st.text(max_size=12), st.booleans()),
        max_size=15,
    )
)
def test_agent_text_deltas_rebuild_the_text(updates: list[tuple[str, str, bool]]) -> None:
    codec = open_codec()
    previous: dict[str, str] = {}
    for turn_id, text, final in updates:
        codec.receive_frame(messages.encode(messages.response_text(turn_id, text, is_final=final)))
        (event,) = codec.events_received()
        assert isinstance(event, AgentText) and event.text == text
        before = previous.pop(turn_id, "")
        assert event.delta == (text[len(before) :] if text.startswith(before) else text)
        if not final:
            previous[turn_id] = text


@SETTINGS
@given(st.binary(max_size=4000).map(lambda b: b[: len(b) // 2 * 2]), st.data())
def test_agent_audio_arrives_byte_for_byte_under_any_chunking(pcm: bytes, data: Any) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(pcm) // 2), max_size=10)))
    bounds = [0, *(c * 2 for c in cuts), len(pcm)]
    codec = open_codec()
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        last = i == len(bounds) - 2
        codec.receive_frame(
            messages.encode(messages.response_audio("t", pcm[start:end], is_final=last))
        )
    events = codec.events_received()
    assert b"".join(e.pcm for e in events if isinstance(e, AgentAudio)) == pcm
    assert events[-1].type == "agent_audio_done"
