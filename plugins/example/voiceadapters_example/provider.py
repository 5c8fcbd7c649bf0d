"""The provider: everything voiceadapters needs to know about Parrot, as data.

Registering a plugin must be cheap (no I/O, no heavy imports), so this module
holds only names, defaults, formats, paths and capabilities; the two factories
import the codec and the simulator when they are first called. It is the one
place these facts are declared: the codec and the simulator are built with
the provider and read them from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

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
    "SCENARIOS",
    "TALK_PATH",
    "WIRE_FORMAT",
    "ExampleOptions",
    "ExampleProvider",
]

#: Raw 16-bit little-endian PCM, 16 kHz, mono, in both directions.
WIRE_FORMAT = AudioFormat(16000)
#: The one WebSocket endpoint.
TALK_PATH = "/v1/talk"
API_KEY_ENV = "EXAMPLE_API_KEY"

#: What the Parrot protocol carries: final and interim transcripts of the user
#: (``heard``), the end of each reply's audio (``done``) and why a session
#: ended (``bye``). Everything else stays false, and the conformance cases
#: that need it are reported ``unsupported``.
CAPABILITIES = Capabilities(user_transcripts=True, agent_audio_done=True, end_reasons=True)

#: Simulator scenarios, the first being the default. Both come from the
#: provider-neutral scripted agent (:mod:`voiceadapters.simulator.agent`).
SCENARIOS = ("echo", "server_shutdown")


class ExampleOptions(BaseModel):
    """Options of an ``example://`` config string: ``example://?voice=macaw``."""

    # The schema is built on first use (connect), not when get_provider() imports this.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    voice: str = "polly"
    """Which parrot answers; sent as the ``voice`` query parameter."""


class ExampleProvider(Provider):
    """Parrot, a toy voice agent that repeats what you say (see the package docstring)."""

    name: ClassVar[str] = "example"
    description: ClassVar[str] = (
        "Example plugin (the toy Parrot protocol): JSON control + binary PCM 16 kHz over WebSocket"
    )
    default_host: ClassVar[str] = "parrot.example.com"
    api_key_env: ClassVar[str] = API_KEY_ENV
    options_model: ClassVar[type[BaseModel]] = ExampleOptions
    wire_input: ClassVar[AudioFormat] = WIRE_FORMAT
    wire_output: ClassVar[AudioFormat] = WIRE_FORMAT
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    scenarios: ClassVar[tuple[str, ...]] = SCENARIOS
    #: Written for core plugin API 0.2; checked when the plugin loads.
    core_api: ClassVar[str | None] = ">=0.2,<0.3"

    def make_codec(self, config: ProviderConfig) -> Codec:
        from .codec import ExampleCodec

        return ExampleCodec(config, provider=self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        from .simulator import ExampleSimulator

        return ExampleSimulator(api_key, scenario=scenario, pace=pace, provider=self)

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        return loopback_config(self.name, host, port)
