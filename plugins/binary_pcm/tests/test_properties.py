"""Properties of the codec (hypothesis).

* Exact framing: for any application sample rate and any chunking, whether
  ``connected`` comes early or late, every binary frame on the wire is 640
  bytes and the wire audio is exactly the converted input, with only the
  final partial frame zero-padded: no sample lost or invented.
* Whatever a server sends, the codec never raises, and every event is a valid
  normalized event with ``session_ended`` last and once.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceadapters.audio import StreamConverter
from voiceadapters.commands import Close, SendAudio
from voiceadapters.config import parse_config, resolve_config
from voiceadapters.events import EventAdapter, SessionEnded
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import CloseFrame, HttpResponse
from voiceadapters_binary_pcm import BinaryPcmCodec, BinaryPcmProvider, messages

SETTINGS = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
WIRE = AudioFormat(16000)
RATES = [8000, 16000, 22050, 24000, 44100, 48000]


def open_codec(buffer_seconds: float = 30.0) -> BinaryPcmCodec:
    provider = BinaryPcmProvider()
    config = resolve_config(
        parse_config(
            f"binary-pcm://127.0.0.1:1?tls=false&preconnect_buffer_seconds={buffer_seconds}"
        ),
        provider,
        api_key="k",
        environ={},
    )
    codec = provider.make_codec(config)
    codec.receive_http_response(
        HttpResponse(200, b'{"token":"t","ws_url":"ws://127.0.0.1:1/api/v1/sdk/ws"}')
    )
    codec.connection_opened()
    assert codec.frames_to_send() == ['{"token":"t"}']
    return codec


@st.composite
def recordings(draw: Any) -> tuple[int, bytes, list[int], int]:
    """(rate, pcm, chunk boundaries in samples, chunk index at which ``connected`` arrives)."""
    rate = draw(st.sampled_from(RATES))
    n = draw(st.integers(0, rate // 2))  # up to 0.5 s
    seed = draw(st.integers(0, 2**32 - 1))
    samples = np.random.default_rng(seed).integers(-20000, 20000, n, dtype=np.int16)
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=12))))
    connect_at = draw(st.integers(0, len(cuts) + 1))
    return rate, samples.astype("<i2").tobytes(), cuts, connect_at


@SETTINGS
@given(recordings())
def test_every_wire_frame_is_640_bytes_and_no_sample_is_lost_or_invented(
    case: tuple[int, bytes, list[int], int],
) -> None:
    rate, pcm, cuts, connect_at = case
    app = AudioFormat(rate)
    codec = open_codec()
    converter = StreamConverter(app, WIRE)  # what the session does to app audio
    bounds = [0, *cuts, len(pcm) // 2]
    wire: list[bytes] = []
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        if index == connect_at:
            codec.receive_frame(messages.encode(messages.connected()))
        codec.handle_command(SendAudio(pcm=converter.convert(pcm[start * 2 : end * 2])))
        wire += codec.frames_to_send()  # type: ignore[arg-type]
    if not codec.connected:
        codec.receive_frame(messages.encode(messages.connected()))
    codec.handle_command(SendAudio(pcm=converter.flush()))
    codec.handle_command(Close())
    out = codec.frames_to_send()
    assert out[-1] == CloseFrame(1000, "client closed")
    wire += out[:-1]  # type: ignore[arg-type]

    assert all(isinstance(f, bytes) and len(f) == 640 for f in wire)
    once = StreamConverter(app, WIRE)
    expected = once.convert(pcm) + once.flush()
    audio = b"".join(wire)
    assert len(audio) == -(-len(expected) // 640) * 640, "only the last frame is padded"
    assert audio[: len(expected)] == expected, "every converted sample, in order"
    assert audio[len(expected) :] == bytes(len(audio) - len(expected)), "padding is silence"


# -- any server input ----------------------------------------------------------------------

FIELDS = ["type", "reason", "code", "message", "session_id", "id", "token"]
json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
message = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(messages.SERVER_MESSAGE_TYPES)) | st.text(max_size=8)},
    optional={
        "reason": st.sampled_from(messages.SESSION_ENDED_REASONS) | json_value,
        "code": st.sampled_from(sorted(messages.FATAL_ERROR_CODES)) | json_value,
        "message": json_value,
        "session_id": json_value,
    },
)
frame = (
    message.map(json.dumps)
    | st.text(max_size=30)
    | st.binary(max_size=50)
    | json_value.map(json.dumps)
)
close = st.tuples(
    st.sampled_from([None, 1000, 1001, 1006, 4001, 4002, 4003, 4500, 4999]), st.text(max_size=8)
)


@SETTINGS
@given(
    st.lists(frame, max_size=12),
    st.none() | close,
    st.lists(st.binary(max_size=700).map(lambda b: b[: len(b) // 2 * 2]), max_size=4),
)
def test_no_server_input_makes_the_codec_raise(
    frames: list[Any], closed: tuple[int | None, str] | None, mic: list[bytes]
) -> None:
    codec = open_codec(buffer_seconds=1.0)
    events = []
    for item, chunk in zip(frames, mic + [b""] * len(frames), strict=False):
        codec.receive_frame(item)
        if not codec.ended:
            codec.handle_command(SendAudio(pcm=chunk))
        for out in codec.frames_to_send():
            assert isinstance(out, (CloseFrame, str)) or len(out) == 640
        events += codec.events_received()
    if closed is not None:
        codec.receive_closed(*closed)
        events += codec.events_received()
    for event in events:
        assert EventAdapter.validate_python(event.model_dump()) == event
    ended = [i for i, e in enumerate(events) if isinstance(e, SessionEnded)]
    assert ended in ([], [len(events) - 1]), "session_ended is last and once"
    if closed is not None:
        assert ended, "a close always ends the session"
