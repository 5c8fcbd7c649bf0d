"""The Deepgram Voice Agent provider: names, defaults, options, formats, capabilities.

Everything here is data, so registering the plugin imports neither the codec
nor the simulator; the factories import them on first use. This is the one
declaration of the protocol's facts — wire formats, capabilities, options,
URL paths — which the codec and the simulator read from the provider they are
built with.

Protocol sources (cited in this package as [SDK] and [docs]):

* [SDK] the vendor's Python SDK ``deepgram-sdk`` 7.17.0 on PyPI:
  ``deepgram/agent/v1/socket_client.py`` (the message unions, binary audio),
  ``deepgram/agent/v1/raw_client.py`` (URL ``{agent}/v1/agent/converse`` and
  the ``Authorization`` header), ``deepgram/agent/v1/types/*.py`` (every
  message model), ``deepgram/auth/v1/tokens/raw_client.py`` (``POST
  /v1/auth/grant``), ``deepgram/environment.py`` (the base URLs a client can
  point elsewhere: :class:`DeepgramClientEnvironment`);
* [docs] https://developers.deepgram.com/reference/voice-agent/voice-agent
  (the AsyncAPI reference of ``/v1/agent/converse``),
  https://developers.deepgram.com/docs/voice-agent-outputs (server events),
  https://developers.deepgram.com/docs/voice-agent-user-started-speaking
  (barge-in: discard queued agent audio), and the token-based authentication
  guide (``Authorization: Token <key>`` or ``Bearer <JWT>``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from voiceadapters.capabilities import Capabilities
from voiceadapters.config import loopback_config
from voiceadapters.format import AudioFormat
from voiceadapters.provider import Provider

if TYPE_CHECKING:
    # Core types only: the codec and the simulator import this module.
    from voiceadapters.codec import Codec
    from voiceadapters.config import ProviderConfig
    from voiceadapters.simulator.base import Simulator

__all__ = [
    "API_KEY_ENV",
    "CAPABILITIES",
    "CONVERSE_PATH",
    "DEFAULT_HOST",
    "GRANT_HOST",
    "GRANT_PATH",
    "INPUT_FORMAT",
    "OUTPUT_FORMAT",
    "SCENARIOS",
    "DeepgramFunction",
    "DeepgramOptions",
    "DeepgramProvider",
]

#: Microphone audio: ``linear16`` (PCM16 LE) mono at 16 kHz, declared in
#: ``Settings.audio.input`` ([SDK] ``AgentV1SettingsAudioInput``; the server's
#: default when omitted is 24 kHz, so the codec always states it).
INPUT_FORMAT = AudioFormat(16000)
#: Agent audio: ``linear16`` mono at 24 kHz, ``container: "none"`` (raw PCM in
#: binary frames), declared in ``Settings.audio.output``.
OUTPUT_FORMAT = AudioFormat(24000)

DEFAULT_HOST = "agent.deepgram.com"
#: Where Deepgram's REST API (and so ``/v1/auth/grant``) is ([SDK]
#: ``environment.py``: ``base="https://api.deepgram.com"``).
GRANT_HOST = "api.deepgram.com"
API_KEY_ENV = "DEEPGRAM_API_KEY"
#: The Voice Agent WebSocket ([SDK] ``raw_client.py``: ``environment.agent +
#: "/v1/agent/converse"``).
CONVERSE_PATH = "/v1/agent/converse"
#: The temporary-token endpoint ([SDK] ``auth/v1/tokens``; on ``api.deepgram.com``).
GRANT_PATH = "/v1/auth/grant"

#: What the protocol carries ([docs] server events):
#: ``ConversationText`` (user and assistant), ``UserStartedSpeaking`` (there is
#: no stop message: ``user_speech_stopped`` is derived from the final user
#: ``ConversationText``, see the codec), barge-in (``UserStartedSpeaking``
#: while the agent speaks), ``AgentAudioDone``, client-side functions
#: (``FunctionCallRequest``/``FunctionCallResponse``), text input
#: (``InjectUserMessage``) and a readiness step (``SettingsApplied``). There is
#: no client message that only stops the agent (``interrupt``), no emotion,
#: and no end-of-session message (the close reason is all).
CAPABILITIES = Capabilities(
    user_transcripts=True,
    agent_text=True,
    speech_events=True,
    interruption_events=True,
    agent_audio_done=True,
    tool_calls=True,
    emotion=False,
    text_input=True,
    client_interrupt=False,
    agent_ready=True,
    end_reasons=True,
)

#: Simulator scenarios, the default first: the provider-neutral agent's four,
#: then Deepgram's (see :mod:`voiceadapters_deepgram.simulator`).
SCENARIOS = (
    "echo",
    "tool_call",
    "barge_in",
    "server_shutdown",
    "errors",
    "malformed",
    "drop",
)


class DeepgramFunction(BaseModel):
    """A client-side function the agent may call (``agent.think.functions[]``
    without an ``endpoint``, [SDK] ``ThinkSettingsV1FunctionsItem``)."""

    # The schema is built on first use (connect), not when get_provider() imports this.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(min_length=1)
    description: str = ""
    #: JSON schema of the arguments.
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class DeepgramOptions(BaseModel):
    """Options of a ``deepgram://`` config string (or keyword arguments of ``connect``).

    * ``auth``: ``key`` (default) sends ``Authorization: Token <key>`` on the
      WebSocket upgrade; ``grant`` first asks ``POST /v1/auth/grant`` for a
      short-lived JWT and opens the WebSocket with ``Authorization: Bearer
      <JWT>`` (what a browser-side client does; the key never reaches the
      agent endpoint).
    * ``grant_host``: where ``/v1/auth/grant`` is (default:
      ``api.deepgram.com`` when the config's host is Deepgram's
      ``agent.deepgram.com``, else the config's own host, as a simulator
      serves both).
    * ``listen_model``, ``language``: ``agent.listen.provider`` (Deepgram STT).
    * ``think_provider``, ``think_model``, ``prompt``: ``agent.think``.
    * ``speak_model``: ``agent.speak.provider`` (Deepgram Aura).
    * ``greeting``: what the agent says first (``agent.greeting``).
    * ``functions``: client-side functions (a list of
      :class:`DeepgramFunction`, or its JSON in a config string).
    * ``keep_alive_interval`` (seconds, default 4): the codec sends
      ``KeepAlive`` when nothing was sent for one to two intervals (the
      docs ask for it while no audio is sent); ``0`` never does.
    * ``connect_timeout`` (seconds): bounds the upgrade and the wait for
      ``Welcome``.
    * ``preconnect_buffer_seconds``: microphone audio held until
      ``SettingsApplied`` (the docs: settings before any audio).
    """

    # The schema is built on first use (connect), not when get_provider() imports this.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    auth: Literal["key", "grant"] = "key"
    grant_host: str | None = None
    listen_model: str = "nova-3"
    language: str = "en"
    think_provider: str = "open_ai"
    think_model: str = "gpt-4o-mini"
    prompt: str | None = None
    speak_model: str = "aura-2-thalia-en"
    greeting: str | None = None
    functions: tuple[DeepgramFunction, ...] = ()
    keep_alive_interval: float = Field(default=4.0, ge=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    preconnect_buffer_seconds: float = Field(default=5.0, gt=0)

    @field_validator("functions", mode="before")
    @classmethod
    def _functions_from_json(cls, value: Any) -> Any:
        """A config string carries ``functions`` as JSON text."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"functions is not JSON: {exc}") from None
        if isinstance(value, dict):
            value = [value]
        return value


class DeepgramProvider(Provider):
    """Deepgram's Voice Agent API (https://developers.deepgram.com/docs/voice-agent).

    ``wss://agent.deepgram.com/v1/agent/converse`` with ``Authorization: Token
    <key>``; ``Welcome``, then the client's ``Settings``, ``SettingsApplied``;
    binary linear16 both ways and typed JSON control messages.
    """

    name: ClassVar[str] = "deepgram"
    description: ClassVar[str] = (
        "Deepgram Voice Agent: Authorization Token (or granted JWT), Settings, "
        "binary linear16 16 kHz in / 24 kHz out, client-side function calls"
    )
    transports: ClassVar[tuple[str, ...]] = ("websocket",)
    default_host: ClassVar[str] = DEFAULT_HOST
    api_key_env: ClassVar[str] = API_KEY_ENV
    options_model: ClassVar[type[BaseModel]] = DeepgramOptions
    wire_input: ClassVar[AudioFormat] = INPUT_FORMAT
    wire_output: ClassVar[AudioFormat] = OUTPUT_FORMAT
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    scenarios: ClassVar[tuple[str, ...]] = SCENARIOS
    #: Written for core plugin API 0.2; checked when the plugin loads.
    core_api: ClassVar[str | None] = ">=0.2,<0.3"
    converse_path: ClassVar[str] = CONVERSE_PATH
    grant_path: ClassVar[str] = GRANT_PATH

    def make_codec(self, config: ProviderConfig) -> Codec:
        """A :class:`~voiceadapters_deepgram.codec.DeepgramCodec`; raises
        :class:`~voiceadapters.errors.ConfigError` without an API key."""
        from .codec import DeepgramCodec

        return DeepgramCodec(config, provider=self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        """A :class:`~voiceadapters_deepgram.simulator.DeepgramSimulator` accepting ``api_key``."""
        from .simulator import DeepgramSimulator

        return DeepgramSimulator(api_key, scenario=scenario, pace=pace, provider=self)

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        return loopback_config(self.name, host, port)
