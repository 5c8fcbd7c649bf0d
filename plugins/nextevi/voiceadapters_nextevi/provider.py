"""The NextEVI provider: names, defaults, options, wire formats and capabilities.

Everything here is data (plus the connection-id factory), so registering the
plugin imports neither the codec nor the simulator; the factories import them
on first use. This is the one declaration of the protocol's facts — wire
formats, capabilities, options, the URL path — which the codec and the
simulator read from the provider they are built with.

Sources: the NextEVI wire spec (``protocols/nextevi.md``, cited as §n), which
summarises https://docs.nextevi.com (WebSocket API reference, protocol and
authentication pages, the examples page = seed 004), the PyPI package
``livekit-plugins-nextevi`` 0.1.0 (``livekit_nextevi/realtime/``) and the
React SDK ``@nextevi/voice-react`` 1.1.6.
"""

from __future__ import annotations

import random
import re
import secrets
import string
import time
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from voiceadapters.capabilities import Capabilities
from voiceadapters.config import loopback_config
from voiceadapters.format import AudioFormat
from voiceadapters.provider import Provider

if TYPE_CHECKING:
    # Core types only: the codec and the simulator import this module, so
    # naming them here would make an import cycle.
    from voiceadapters.codec import Codec
    from voiceadapters.config import ProviderConfig
    from voiceadapters.simulator.base import Simulator


__all__ = [
    "API_KEY_ENV",
    "CAPABILITIES",
    "CONNECTION_ID_RE",
    "DEFAULT_HOST",
    "SCENARIOS",
    "WIRE_FORMAT",
    "NextEVIOptions",
    "NextEVIProvider",
    "new_connection_id",
]

#: Both directions: PCM16 LE, 24 kHz, mono (§4). Agent audio that arrives as a
#: WAV per chunk carries its own format, which the codec honours.
WIRE_FORMAT = AudioFormat(24000)
DEFAULT_HOST = "api.nextevi.com"
API_KEY_ENV = "NEXTEVI_API_KEY"

#: What the protocol carries (§2, §3, §6, §7). ``speech_events`` comes from
#: ``transcription.metadata.event_type`` (``speech_started`` and
#: ``utterance_end``, read by the React SDK); ``end_reasons`` from
#: ``websocket.disconnect{code, reason}``, close reasons and the idle
#: ``system_message`` hang-up. There are no tool calls (§6) and no separate
#: ready step (``connection_metadata`` is the start).
CAPABILITIES = Capabilities(
    user_transcripts=True,
    agent_text=True,
    speech_events=True,
    interruption_events=True,
    agent_audio_done=True,
    tool_calls=False,
    emotion=True,
    text_input=True,
    client_interrupt=True,
    agent_ready=False,
    end_reasons=True,
)

#: Simulator scenarios, the default first. ``echo``, ``barge_in`` and
#: ``server_shutdown`` are the provider-neutral agent's; the rest are
#: NextEVI's (see :mod:`voiceadapters_nextevi.simulator`). There is no
#: ``tool_call`` scenario: the protocol has no tool messages (§6).
SCENARIOS = (
    "echo",
    "barge_in",
    "server_shutdown",
    "wav_chunks",
    "idle_warning",
    "error",
    "bad_wav",
    "drop",
)

#: ``voice_<epoch milliseconds>_<9 lower-case base-36 characters>``, the form
#: the vendor clients use (§1.1).
CONNECTION_ID_RE = re.compile(r"voice_[0-9]+_[0-9a-z]{9}")

_BASE36 = string.digits + string.ascii_lowercase


def new_connection_id(*, epoch_ms: int | None = None, rng: random.Random | None = None) -> str:
    """A fresh ``connection_id`` in the vendor clients' form (§1.1).

    Reads the wall clock and the OS random source unless ``epoch_ms`` and
    ``rng`` are given (tests pass both to get a known id). This is the only
    place the plugin reads a clock or randomness: the provider calls it when
    it builds a codec, and the codec only receives the result.
    """
    if epoch_ms is None:
        epoch_ms = int(time.time() * 1000)
    if rng is None:
        tail = "".join(secrets.choice(_BASE36) for _ in range(9))
    else:
        tail = "".join(rng.choice(_BASE36) for _ in range(9))
    return f"voice_{epoch_ms}_{tail}"


class NextEVIOptions(BaseModel):
    """Options of a ``nextevi://`` config string.

    * ``config_id`` (required): the voice configuration made in the NextEVI
      dashboard; sent in the WebSocket query.
    * ``project_id``: sent in the query when set (the docs call it optional
      and auto-detected, §1.2, §9.11).
    * ``audio_input``: ``binary`` (default) streams microphone audio as binary
      PCM frames, as both vendor clients do; ``base64`` sends the documented
      ``audio_input`` JSON message instead (§2, §9.2).
    * ``keep_alive_interval`` (seconds, default 30): send ``keep_alive`` when
      nothing was sent for this long (§8); ``0`` never sends one.
    * ``emotion_detection``, ``turn_detection``, ``silence_threshold``
      (seconds): the ``session_settings`` switches (§2).
    * ``connect_timeout`` (seconds, default 10): bounds the WebSocket opening
      handshake.
    """

    # The schema is built on first use (connect), not when get_provider() imports this.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    config_id: str = Field(min_length=1)
    project_id: str | None = Field(default=None, min_length=1)
    audio_input: Literal["binary", "base64"] = "binary"
    keep_alive_interval: float = Field(default=30.0, ge=0)
    emotion_detection: bool = True
    turn_detection: bool = True
    silence_threshold: float = Field(default=0.5, ge=0)
    connect_timeout: float = Field(default=10.0, gt=0)


class NextEVIProvider(Provider):
    """NextEVI speech-to-speech voice agents (https://nextevi.com).

    No REST step: ``wss://api.nextevi.com/ws/voice/{connection_id}?api_key=…
    &config_id=…[&project_id=…]``, then ``session_settings``, binary PCM 24 kHz
    up, JSON messages (base64 audio) down, in either of two dialects (fields
    nested under ``data`` as documented, or flat as the vendor clients use).
    """

    name: ClassVar[str] = "nextevi"
    description: ClassVar[str] = (
        "NextEVI speech-to-speech: api_key/config_id in the URL, binary PCM 24 kHz in, "
        "base64 audio (raw PCM or WAV per chunk) out, emotions"
    )
    transports: ClassVar[tuple[str, ...]] = ("websocket",)
    default_host: ClassVar[str] = DEFAULT_HOST
    default_path: ClassVar[str] = ""
    api_key_env: ClassVar[str] = API_KEY_ENV
    options_model: ClassVar[type[BaseModel]] = NextEVIOptions
    wire_input: ClassVar[AudioFormat] = WIRE_FORMAT
    wire_output: ClassVar[AudioFormat] = WIRE_FORMAT
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    scenarios: ClassVar[tuple[str, ...]] = SCENARIOS
    #: Written for core plugin API 0.2; checked when the plugin loads.
    core_api: ClassVar[str | None] = ">=0.2,<0.3"
    #: WebSocket path prefix; the connection id follows (§1.2).
    connection_path: ClassVar[str] = "/ws/voice/"

    #: Base64 audio: ``tts_chunk.content`` (top level, mirrored in ``data``)
    #: and ``audio_input.data.audio`` (§2, §3, §9.3), for cassettes.
    wire_audio_fields: ClassVar[tuple[str, ...]] = ("content", "data.content", "data.audio")
    #: The WebSocket path carries a ``connection_id`` made fresh per
    #: connection (§1.1): a cassette replay does not compare it.
    cassette_ignore: ClassVar[tuple[str, ...]] = ("ws_open.path",)

    def make_codec(self, config: ProviderConfig) -> Codec:
        """A :class:`~voiceadapters_nextevi.codec.NextEVICodec` for ``config``
        with a fresh :func:`new_connection_id`. Raises
        :class:`~voiceadapters.errors.ConfigError` when no API key is
        configured (argument, ``api_key`` option or ``NEXTEVI_API_KEY``).
        """
        from .codec import NextEVICodec

        return NextEVICodec(config, connection_id=new_connection_id(), provider=self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        """A :class:`~voiceadapters_nextevi.simulator.NextEVISimulator` accepting ``api_key``."""
        from .simulator import NextEVISimulator

        return NextEVISimulator(api_key, scenario=scenario, pace=pace, provider=self)

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        """``nextevi://host:port?tls=false&config_id=<the simulator's config>``."""
        from .simulator import NextEVISimulator

        if not isinstance(simulator, NextEVISimulator):
            raise TypeError(f"expected a NextEVISimulator, got {type(simulator).__name__}")
        return loopback_config(self.name, host, port, config_id=simulator.config_id)
