"""The Vatel provider: names, defaults, options, wire formats and capabilities.

Everything here is data, so registering the plugin imports neither the codec
nor the simulator (the ``voiceadapters_providers`` hook must be cheap); the
two factories import them on first use. This is the one declaration of the
protocol's facts — wire formats, capabilities, options, URL paths — which the
codec and the simulator read from the provider they are built with.

Sources for the choices below: the Vatel OpenAPI document (API 0.2.3,
``openapi.json`` in Devpro-Software/vatel-py-sdk), the Python SDK
(``src/vatel/connection.py``, ``api/session.py``) and the docs pages
https://docs.vatel.ai/api-reference/session/session-token and
``…/session/connection``; summarised in the Vatel wire spec §1 to §12.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    "DEFAULT_HOST",
    "SCENARIOS",
    "WIRE_FORMAT",
    "VatelOptions",
    "VatelProvider",
]

#: Both directions: signed 16-bit little-endian PCM, 24 kHz, mono, raw
#: (the Vatel wire spec §6; the PY SDK's ``models/ws.py`` field docs).
WIRE_FORMAT = AudioFormat(24000)
DEFAULT_HOST = "api.vatel.ai"
API_KEY_ENV = "VATEL_API_KEY"

#: What the WebSocket protocol carries (the Vatel wire spec §3 to §9). There is
#: no client text input, no client interrupt or cancel message, no separate
#: "ready" step, and ``session_ended`` has no reason field.
CAPABILITIES = Capabilities(
    user_transcripts=True,
    agent_text=True,
    speech_events=True,
    interruption_events=True,
    agent_audio_done=True,
    tool_calls=True,
    emotion=False,
    text_input=False,
    client_interrupt=False,
    agent_ready=False,
    end_reasons=False,
)

#: Simulator scenarios. The first four are the provider-neutral agent's
#: (:mod:`voiceadapters.simulator.agent`). The last three are Vatel fault
#: scenarios, opt-in for tests only — ``malformed`` sends what no real Vatel
#: server sends (see :mod:`voiceadapters_vatel.simulator`).
SCENARIOS = ("echo", "tool_call", "barge_in", "server_shutdown", "malformed", "drop", "token_500")


class VatelOptions(BaseModel):
    """Options of a ``vatel://`` config string.

    ``agent_id`` is required. The real API wants a UUID (``format: uuid`` in
    ``GenerateSessionTokenRequest``) and answers 400 otherwise; any non-empty
    string is accepted here so that the server, not the client, has the last
    word (:attr:`agent_id_is_uuid` tells whether it looks right).

    ``version_id``, ``first_message``, ``prompt``, ``chat_id`` and ``chat`` are
    sent in the token request only when set (the Python SDK sends explicit
    ``null``\\ s; omitting them is what the schema describes).

    ``token_form="query"`` selects the legacy token request
    ``POST /v1/session-token?agentId=…`` with no body (the docs' Next.js demo
    and the Go SDK's ``SessionToken``), which can carry nothing but the agent
    id, so combining it with another token option is a configuration error.

    ``timeout`` (seconds) bounds the token request and the WebSocket opening
    handshake each (the PY SDK opens with 10 s).
    """

    # The schema is built on first use (connect), not when get_provider() imports this.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    agent_id: str = Field(min_length=1)
    version_id: str | None = None
    first_message: str | None = None
    prompt: str | None = None
    chat_id: str | None = None
    chat: bool | None = None
    token_form: Literal["body", "query"] = "body"
    timeout: float = Field(default=10.0, gt=0)

    #: Options that only the JSON-body token request can carry.
    BODY_ONLY: ClassVar[tuple[str, ...]] = (
        "version_id",
        "first_message",
        "prompt",
        "chat_id",
        "chat",
    )

    @model_validator(mode="after")
    def _legacy_form_carries_agent_id_only(self) -> VatelOptions:
        if self.token_form == "query":
            given = [name for name in self.BODY_ONLY if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    "token_form=query (the legacy ?agentId= request) cannot carry "
                    f"{', '.join(given)}; use token_form=body"
                )
        return self

    @property
    def agent_id_is_uuid(self) -> bool:
        """True when ``agent_id`` parses as a UUID, as the real API requires."""
        try:
            uuid.UUID(self.agent_id)
        except ValueError:
            return False
        return True

    def token_request_body(self) -> dict[str, str | bool]:
        """The ``GenerateSessionTokenRequest`` JSON body: ``agent_id`` and the
        optional fields that are set, nothing else."""
        body: dict[str, str | bool] = {"agent_id": self.agent_id}
        for name in self.BODY_ONLY:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


class VatelProvider(Provider):
    """Vatel voice agents (https://vatel.ai).

    Handshake: ``POST /v1/session-token`` with the organisation API key
    returns a short-lived JWT; ``wss://…/v1/connection?token=…`` then carries
    JSON ``{"type", "data"}`` text frames both ways, audio as base64 PCM16
    24 kHz mono.

    Transports: ``websocket`` (the default) and ``webrtc``
    (``vatel+webrtc://``: the token request asks for a LiveKit room, joined
    with the ``livekit`` package of the ``webrtc`` extra; the Vatel wire spec
    §11, docs *Vatel over WebRTC*).
    """

    name: ClassVar[str] = "vatel"
    description: ClassVar[str] = (
        "Vatel voice agents: session token over REST, JSON + base64 PCM 24 kHz over WebSocket "
        "(or a LiveKit room over WebRTC)"
    )
    transports: ClassVar[tuple[str, ...]] = ("websocket", "webrtc")
    default_host: ClassVar[str] = DEFAULT_HOST
    default_path: ClassVar[str] = ""
    api_key_env: ClassVar[str] = API_KEY_ENV
    options_model: ClassVar[type[BaseModel]] = VatelOptions
    wire_input: ClassVar[AudioFormat] = WIRE_FORMAT
    wire_output: ClassVar[AudioFormat] = WIRE_FORMAT
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    scenarios: ClassVar[tuple[str, ...]] = SCENARIOS
    #: Written for core plugin API 0.2; checked when the plugin loads.
    core_api: ClassVar[str | None] = ">=0.2,<0.3"
    demo_default: ClassVar[bool] = True
    #: Base64 audio in ``input_audio`` and ``response_audio`` (the Vatel wire
    #: spec §4, §5): cassettes truncate or mark it, and compare it by length.
    wire_audio_fields: ClassVar[tuple[str, ...]] = ("data.audio",)
    #: REST path of the session-token request (the Vatel wire spec §1).
    token_path: ClassVar[str] = "/v1/session-token"
    #: WebSocket path of the session (the Vatel wire spec §2).
    connection_path: ClassVar[str] = "/v1/connection"

    def make_codec(self, config: ProviderConfig) -> Codec:
        """A :class:`~voiceadapters_vatel.codec.VatelCodec` for ``config``.

        Raises :class:`~voiceadapters.errors.ConfigError` when no API key is
        configured (argument, ``api_key`` option or ``VATEL_API_KEY``).
        """
        from .codec import VatelCodec

        return VatelCodec(config, provider=self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        """A :class:`~voiceadapters_vatel.simulator.VatelSimulator` accepting ``api_key``."""
        from .simulator import VatelSimulator

        return VatelSimulator(api_key, scenario=scenario, pace=pace, provider=self)

    def make_transport_simulator(
        self,
        transport: str | None,
        *,
        api_key: str,
        scenario: str | None = None,
        pace: float = 1.0,
    ) -> Simulator:
        """``webrtc``: a :class:`~voiceadapters_vatel.simulator.VatelSimulator`
        that runs a LiveKit room simulator beside its host (the ``webrtc-sim``
        extra); otherwise :meth:`make_simulator`'s."""
        if transport != "webrtc":
            return super().make_transport_simulator(
                transport, api_key=api_key, scenario=scenario, pace=pace
            )
        from .simulator import VatelSimulator

        return VatelSimulator(
            api_key, scenario=scenario, pace=pace, provider=self, transport="webrtc"
        )

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        """``vatel://host:port?tls=false&agent_id=<the simulator's agent>``
        (``vatel+webrtc://…`` for a simulator of the webrtc transport)."""
        from .simulator import VatelSimulator

        if not isinstance(simulator, VatelSimulator):
            raise TypeError(f"expected a VatelSimulator, got {type(simulator).__name__}")
        text = loopback_config(self.name, host, port, agent_id=simulator.agent_id)
        if simulator.transport == "webrtc":
            text = text.replace(f"{self.name}://", f"{self.name}+webrtc://", 1)
        return text
