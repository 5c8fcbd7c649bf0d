"""The binary-PCM provider: names, defaults, options, wire formats and capabilities.

Everything here is data, so registering the plugin imports neither the codec
nor the simulator (the ``voiceadapters_providers`` hook must be cheap); the
two factories import them on first use. This is the one declaration of the
protocol's facts — wire formats, frame size, capabilities, options, URL
paths — which the codec, the simulator and the message builders read from it.

The protocol is the "binary-PCM token-first" protocol of the WorkBuddy voice
SDK API (the binary-PCM wire spec, ``protocols/binary-pcm.md``; seed 003, and
https://docs.getworkbuddy.com/{authentication,websocket,troubleshooting}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

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
    "AGENT_SCENARIO_NAMES",
    "API_KEY_ENV",
    "CAPABILITIES",
    "DEFAULT_HOST",
    "END_SCENARIOS",
    "FAULT_SCENARIOS",
    "FRAME_BYTES",
    "SCENARIOS",
    "WIRE_FORMAT",
    "BinaryPcmOptions",
    "BinaryPcmProvider",
]

#: Both directions: signed 16-bit little-endian PCM, 16 kHz, mono, raw, in
#: 20 ms (640-byte) frames (the binary-PCM wire spec §3).
WIRE_FORMAT = AudioFormat(16000)
#: Every microphone frame: 20 ms of PCM16 16 kHz mono = 320 samples (§3).
FRAME_BYTES = 640

#: Default API host. **An assumption**: the docs (docs.getworkbuddy.com) and
#: seed 003 only show ``API_URL`` as a placeholder (``https://your-api-url.com``)
#: and name no API host. ``api.getworkbuddy.com`` is the vendor's own domain
#: with the conventional ``api.`` prefix; give the host your account uses in
#: the config string (``binary-pcm://your-host``) when it differs.
DEFAULT_HOST = "api.getworkbuddy.com"
API_KEY_ENV = "BINARY_PCM_API_KEY"

#: What the protocol carries (the binary-PCM wire spec §2, §6): a ``connected``
#: step, an ``agent_ready`` step, raw agent audio, ``session_ended`` with a
#: reason, and ``error`` codes. Nothing else: no transcripts, no agent text, no
#: speech or interruption events, no tool calls, no end-of-turn mark, and the
#: client can send nothing but microphone audio (no text, no interrupt).
CAPABILITIES = Capabilities(
    user_transcripts=False,
    agent_text=False,
    speech_events=False,
    interruption_events=False,
    agent_audio_done=False,
    tool_calls=False,
    emotion=False,
    text_input=False,
    client_interrupt=False,
    agent_ready=True,
    end_reasons=True,
)

#: The provider-neutral agent's scenarios (:mod:`voiceadapters.simulator.agent`),
#: as this protocol can show them; see :mod:`voiceadapters_binary_pcm.simulator`.
AGENT_SCENARIO_NAMES = ("echo", "tool_call", "barge_in", "server_shutdown")
#: Echo, then ``session_ended`` with that ``reason`` after the first reply.
END_SCENARIOS = ("end_agent_disconnected", "end_session_closed", "end_room_closed")
#: Fault scenarios, opt-in, for tests.
FAULT_SCENARIOS = ("burst", "drop", "malformed", "setup_failed", "disabled", "token_500")
#: Simulator scenarios, the first being the default.
SCENARIOS = AGENT_SCENARIO_NAMES + END_SCENARIOS + FAULT_SCENARIOS


class BinaryPcmOptions(BaseModel):
    """Options of a ``binary-pcm://`` (or ``workbuddy://``) config string.

    ``timeout`` (seconds, default 10) bounds each handshake step: the token
    request, the WebSocket opening handshake, and the wait for the server's
    ``connected`` after the token was sent (10 s is also the server's own
    deadline for the token, the binary-PCM wire spec §1.4).

    ``preconnect_buffer_seconds`` (default 5) is how much microphone audio
    the codec holds while it waits for ``connected`` (the protocol forbids
    audio before it). Audio beyond that raises
    :class:`~voiceadapters.errors.BufferOverflowError`; 0 refuses any audio
    before ``connected``.
    """

    # The schema is built on first use (connect), not when get_provider() imports this.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    timeout: float = Field(default=10.0, gt=0)
    preconnect_buffer_seconds: float = Field(default=5.0, ge=0, le=600)

    @property
    def preconnect_buffer_bytes(self) -> int:
        """The bound of the pre-``connected`` buffer, in bytes of 16 kHz PCM."""
        return WIRE_FORMAT.bytes_for(self.preconnect_buffer_seconds)


class BinaryPcmProvider(Provider):
    """The WorkBuddy voice SDK API: "binary-PCM token-first" (alias ``workbuddy``).

    Handshake: ``POST /api/v1/sdk/token`` with the API key as a Bearer token
    returns ``{token, ws_url}``; the client opens ``ws_url`` as given and sends
    ``{"token": …}`` as its first (text) message. Then raw PCM16 16 kHz mono in
    binary frames both ways (exactly 640 bytes = 20 ms from the client) and a
    few JSON control messages from the server.

    What the protocol **cannot** do, so these capabilities are false: there
    are no transcripts, no agent text, no speech-start/stop or interruption
    events (barge-in is handled server-side: the agent simply stops sending),
    no tool calls (tools, if any, run server-side), no end-of-turn mark for
    agent audio (``agent_audio_done``), no text input and no client
    interrupt. It does have an ``agent_ready`` step and end reasons.

    Only the ``websocket`` transport exists.
    """

    name: ClassVar[str] = "binary-pcm"
    aliases: ClassVar[tuple[str, ...]] = ("workbuddy",)
    description: ClassVar[str] = (
        "WorkBuddy voice SDK: token + ws_url over REST, token as the first WebSocket "
        "message, binary PCM 16 kHz in 640-byte frames"
    )
    transports: ClassVar[tuple[str, ...]] = ("websocket",)
    default_host: ClassVar[str] = DEFAULT_HOST
    default_path: ClassVar[str] = ""
    api_key_env: ClassVar[str] = API_KEY_ENV
    options_model: ClassVar[type[BaseModel]] = BinaryPcmOptions
    wire_input: ClassVar[AudioFormat] = WIRE_FORMAT
    wire_output: ClassVar[AudioFormat] = WIRE_FORMAT
    #: Every microphone frame is exactly 640 bytes (20 ms, the wire spec §3).
    wire_frame_bytes: ClassVar[int | None] = FRAME_BYTES
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    scenarios: ClassVar[tuple[str, ...]] = SCENARIOS
    #: Written for core plugin API 0.2; checked when the plugin loads.
    core_api: ClassVar[str | None] = ">=0.2,<0.3"
    #: REST paths (the binary-PCM wire spec §1): the token, the health check.
    token_path: ClassVar[str] = "/api/v1/sdk/token"
    heartbeat_path: ClassVar[str] = "/api/v1/sdk/heartbeat"
    #: Where ``ws_url`` points (``wss://host/api/v1/sdk/ws``); clients open
    #: ``ws_url`` as given and never build it themselves.
    ws_path: ClassVar[str] = "/api/v1/sdk/ws"

    def make_codec(self, config: ProviderConfig) -> Codec:
        """A :class:`~voiceadapters_binary_pcm.codec.BinaryPcmCodec` for ``config``.

        Raises :class:`~voiceadapters.errors.ConfigError` when no API key is
        configured (argument, ``api_key`` option or ``BINARY_PCM_API_KEY``).

        The token travels inside the first WebSocket message; the codec names
        it in ``WebSocketRequest.redact`` so the driver keeps it out of logs.
        """
        from .codec import BinaryPcmCodec

        return BinaryPcmCodec(config, provider=self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        """A :class:`~voiceadapters_binary_pcm.simulator.BinaryPcmSimulator` accepting ``api_key``."""
        from .simulator import BinaryPcmSimulator

        return BinaryPcmSimulator(api_key, scenario=scenario, pace=pace, provider=self)

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        """``binary-pcm://host:port?tls=false``: the simulator needs no other option."""
        from .simulator import BinaryPcmSimulator

        if not isinstance(simulator, BinaryPcmSimulator):
            raise TypeError(f"expected a BinaryPcmSimulator, got {type(simulator).__name__}")
        return loopback_config(self.name, host, port)
