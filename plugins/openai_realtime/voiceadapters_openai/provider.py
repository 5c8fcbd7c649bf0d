"""The OpenAI Realtime providers: names, defaults, options, formats, capabilities.

Everything here is data, so registering the plugin imports neither the codec
nor the simulator; the factories import them on first use. One protocol
(the OpenAI Realtime API, GA dialect), three ways to reach it:

* ``openai``: ``wss://api.openai.com/v1/realtime?model=…``, the key from
  ``OPENAI_API_KEY`` as ``Authorization: Bearer``;
* ``azure-openai``: ``wss://RESOURCE.openai.azure.com/openai/realtime?api-version=…&deployment=…``,
  the key from ``AZURE_OPENAI_API_KEY`` as an ``api-key`` header;
* ``openai-compatible``: ``wss://host[:port][/path]/realtime?model=…`` (path
  default ``/v1``), the key (optional) from ``OPENAI_COMPATIBLE_API_KEY`` as
  a Bearer — never ``OPENAI_API_KEY``.

Sources: the official ``openai`` Python SDK (``resources/realtime/realtime.py``
builds the URL as ``{websocket_base_url}/realtime?model=…`` with a Bearer
header and no ``OpenAI-Beta`` header; ``lib/azure.py`` the Azure form), its
GA types under ``openai/types/realtime/``, and the OpenAI realtime guides.
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
    from voiceadapters.codec import Codec
    from voiceadapters.config import ProviderConfig
    from voiceadapters.simulator.base import Simulator

__all__ = [
    "AUDIO_FORMATS",
    "CAPABILITIES",
    "G711_FORMAT",
    "SCENARIOS",
    "SESSION_CAP_SECONDS",
    "WIRE_FORMAT",
    "AzureOpenAIProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "OpenAIRealtimeOptions",
    "RealtimeProvider",
]

#: ``audio/pcm``: 16-bit little-endian PCM, 24 kHz, mono (the only rate GA
#: allows: ``AudioPCM.rate: Literal[24000]``), both directions by default.
WIRE_FORMAT = AudioFormat(24000)
#: ``audio/pcmu`` / ``audio/pcma`` are G.711 at 8 kHz; the codec converts
#: them to and from 16-bit PCM at this rate (:mod:`voiceadapters_openai.g711`).
G711_FORMAT = AudioFormat(8000)
#: The ``audio_format`` option → the GA format object of ``session.update``.
AUDIO_FORMATS: dict[str, dict[str, Any]] = {
    "pcm": {"type": "audio/pcm", "rate": 24000},
    "pcmu": {"type": "audio/pcmu"},
    "pcma": {"type": "audio/pcma"},
}
#: OpenAI ends a Realtime session after 60 minutes; the session rolls over
#: to a new connection before that (:mod:`voiceadapters.reconnect`).
SESSION_CAP_SECONDS = 3600.0

#: What the protocol carries. ``end_reasons`` is false: the server has no
#: end-of-session message (only the ``session_expired`` error at the cap).
CAPABILITIES = Capabilities(
    user_transcripts=True,
    agent_text=True,
    speech_events=True,
    interruption_events=True,
    agent_audio_done=True,
    tool_calls=True,
    emotion=False,
    text_input=True,
    client_interrupt=True,
    manual_turns=True,
    agent_ready=False,
    end_reasons=False,
)

#: Simulator scenarios: the provider-neutral agent's four, then the OpenAI
#: simulator's own (:mod:`voiceadapters_openai.simulator`).
SCENARIOS = (
    "echo",
    "tool_call",
    "barge_in",
    "server_shutdown",
    "errors",
    "malformed",
    "session_cap",
    "drop",
    "slow",
    "bursty",
)

TurnDetection = Literal["server_vad", "semantic_vad", "none"]
Modality = Literal["audio", "text"]


def _split_list(value: Any) -> Any:
    """A config string gives ``audio,text``; kwargs give a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class OpenAIRealtimeOptions(BaseModel):
    """Options of ``openai://``, ``azure-openai://`` and ``openai-compatible://``.

    Each is a config-string option (``?voice=marin&turn_detection=semantic_vad``)
    and a keyword argument of :func:`voiceadapters.connect`. Unset options are
    left out of ``session.update``, so the server's defaults apply.
    """

    # The schema is built on first use (connect), not when get_provider() imports this.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    model: str = "gpt-realtime"
    """``?model=`` of the WebSocket URL (OpenAI, compatible servers)."""
    deployment: str | None = None
    """Azure: the deployment name (required for ``azure-openai``)."""
    api_version: str = "2025-04-01-preview"
    """Azure: the ``api-version`` query parameter."""
    instructions: str | None = None
    """``session.instructions``: the system prompt."""
    voice: str | None = None
    """``session.audio.output.voice`` (``alloy``, ``marin``, ``cedar``…)."""
    turn_detection: TurnDetection = "server_vad"
    """``server_vad`` or ``semantic_vad``: the server detects the end of the
    user's turn and answers. ``none`` (push-to-talk): the application ends
    the user's turn with ``session.end_turn()``, which commits the audio
    buffer and asks for a response."""
    vad_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """``server_vad`` threshold."""
    silence_duration_ms: int | None = Field(default=None, ge=0)
    """``server_vad``: silence that ends the user's turn."""
    prefix_padding_ms: int | None = Field(default=None, ge=0)
    """``server_vad``: audio kept before the detected start of speech."""
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    """``semantic_vad`` eagerness."""
    interrupt_response: bool | None = None
    """VAD: whether the user's speech cancels the agent's response (server default: true)."""
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    """``session.audio.input.transcription.model``; ``none`` turns input
    transcription (and so ``user_transcript``) off."""
    transcription_language: str | None = None
    """``session.audio.input.transcription.language`` (ISO-639-1)."""
    tools: list[dict[str, Any]] = Field(default_factory=list)
    """Function tools, each ``{"name", "description", "parameters": <JSON
    schema>}`` (``type: "function"`` is added); in a config string, a JSON array."""
    tool_choice: str | None = None
    """``auto``, ``none``, ``required``."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """Beta-era ``session.temperature``: the GA session has no such field
    (``RealtimeSessionCreateRequest``), so it is sent only when set, for
    compatible servers that still honour it."""
    modalities: list[Modality] = Field(default_factory=lambda: list[Modality](["audio"]))
    """``session.output_modalities``: ``audio`` (speech and its transcript)
    or ``text``; in a config string ``audio`` or ``text``."""
    audio_format: Literal["pcm", "pcmu", "pcma"] = "pcm"
    """Wire audio both ways: ``pcm`` (PCM16 24 kHz), ``pcmu`` / ``pcma`` (G.711 8 kHz)."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds for the WebSocket opening and for ``session.created``."""

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("tools must be a JSON array of function tools") from None
        if isinstance(value, dict):
            value = [value]
        if isinstance(value, list):
            for tool in value:
                if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                    raise ValueError("each tool must be an object with a string 'name'")
                if tool.get("type", "function") != "function":
                    raise ValueError("only function tools are supported")
        return value

    @field_validator("modalities", mode="before")
    @classmethod
    def _modalities_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("modalities")
    @classmethod
    def _one_modality(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("modalities must name audio or text")
        return value

    @field_validator("transcription_model", mode="before")
    @classmethod
    def _none_turns_off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @property
    def wire_format(self) -> AudioFormat:
        """The PCM format audio crosses the codec in (before/after G.711)."""
        return WIRE_FORMAT if self.audio_format == "pcm" else G711_FORMAT


class RealtimeProvider(Provider):
    """What the three OpenAI Realtime providers share; see the module docstring."""

    name: ClassVar[str]
    transports: ClassVar[tuple[str, ...]] = ("websocket",)
    options_model: ClassVar[type[BaseModel]] = OpenAIRealtimeOptions
    wire_input: ClassVar[AudioFormat] = WIRE_FORMAT
    wire_output: ClassVar[AudioFormat] = WIRE_FORMAT
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    scenarios: ClassVar[tuple[str, ...]] = SCENARIOS
    max_session_seconds: ClassVar[float | None] = SESSION_CAP_SECONDS
    core_api: ClassVar[str | None] = ">=0.2,<0.3"
    #: Where base64 audio sits (docs/cassettes.md#audio), per message type: in
    #: the GA events (the SDK's ``types/realtime/``) ``delta`` is audio in
    #: ``response.output_audio.delta`` (and its beta name) but text in the
    #: transcript, text and arguments deltas, so every path is qualified.
    wire_audio_fields: ClassVar[tuple[str, ...]] = (
        "input_audio_buffer.append:audio",
        "response.output_audio.delta:delta",
        "response.audio.delta:delta",
        # input_audio / output_audio content parts of conversation items
        "conversation.item.create:item.content.*.audio",
        "conversation.item.added:item.content.*.audio",
        "conversation.item.created:item.content.*.audio",
        "conversation.item.done:item.content.*.audio",
        "conversation.item.retrieved:item.content.*.audio",
        "response.output_item.added:item.content.*.audio",
        "response.output_item.done:item.content.*.audio",
        "response.content_part.added:part.audio",
        "response.content_part.done:part.audio",
        "response.done:response.output.*.content.*.audio",
    )
    #: How the key is presented: ``bearer`` (``Authorization: Bearer``) or ``api-key``.
    auth: ClassVar[Literal["bearer", "api-key"]] = "bearer"
    #: Whether a session needs a key at all.
    key_required: ClassVar[bool] = True
    #: The URL shape: ``model`` (``…/realtime?model=``) or ``azure``.
    url_style: ClassVar[Literal["model", "azure"]] = "model"

    def make_codec(self, config: ProviderConfig) -> Codec:
        """An :class:`~voiceadapters_openai.codec.RealtimeCodec` for ``config``.

        Raises :class:`~voiceadapters.errors.ConfigError` for a missing key
        (where one is required), a missing Azure deployment or resource host.
        """
        from .codec import RealtimeCodec

        return RealtimeCodec(config, provider=self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        """A :class:`~voiceadapters_openai.simulator.RealtimeSimulator` accepting ``api_key``."""
        from .simulator import RealtimeSimulator

        return RealtimeSimulator(api_key, scenario=scenario, pace=pace, provider=self)

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        """The loopback config string of this provider for ``simulator``."""
        from .simulator import SIM_DEPLOYMENT, SIM_MODEL

        if self.url_style == "azure":
            return loopback_config(self.name, host, port, deployment=SIM_DEPLOYMENT)
        return loopback_config(self.name, host, port, model=SIM_MODEL)


class OpenAIProvider(RealtimeProvider):
    """OpenAI's Realtime API: ``openai://?model=gpt-realtime``."""

    name: ClassVar[str] = "openai"
    description: ClassVar[str] = (
        "OpenAI Realtime API (GA): JSON + base64 PCM 24 kHz or G.711 over WebSocket"
    )
    default_host: ClassVar[str] = "api.openai.com"
    default_path: ClassVar[str] = "/v1"
    api_key_env: ClassVar[str] = "OPENAI_API_KEY"


class AzureOpenAIProvider(RealtimeProvider):
    """Azure OpenAI: ``azure-openai://RESOURCE.openai.azure.com?deployment=…``."""

    name: ClassVar[str] = "azure-openai"
    description: ClassVar[str] = (
        "Azure OpenAI Realtime: the OpenAI Realtime protocol on an Azure resource (api-key header)"
    )
    #: No default: the resource host must be given.
    default_host: ClassVar[str] = ""
    default_path: ClassVar[str] = "/openai"
    api_key_env: ClassVar[str] = "AZURE_OPENAI_API_KEY"
    auth: ClassVar[Literal["bearer", "api-key"]] = "api-key"
    url_style: ClassVar[Literal["model", "azure"]] = "azure"


class OpenAICompatibleProvider(RealtimeProvider):
    """Any server speaking the GA dialect: ``openai-compatible://host:port/v1?model=…``.

    It has its own key variable, never ``OPENAI_API_KEY``: an OpenAI key must
    not travel to another host by default. The key is optional (a local
    server may need none).
    """

    name: ClassVar[str] = "openai-compatible"
    description: ClassVar[str] = (
        "any server speaking the OpenAI Realtime GA dialect (vLLM, gateways, …)"
    )
    default_host: ClassVar[str] = "localhost"
    default_path: ClassVar[str] = "/v1"
    api_key_env: ClassVar[str] = "OPENAI_COMPATIBLE_API_KEY"
    key_required: ClassVar[bool] = False
