"""What a provider plugin provides (design §5).

A plugin distribution exposes one or more :class:`Provider` objects through
the entry-point group ``voiceadapters.providers``; see
:mod:`voiceadapters.registry` and :mod:`voiceadapters.hookspecs`. The
first-party adapters are written exactly like a third party's, against this
class alone.

A provider is *data plus two factories*: name, aliases, option schema, wire
formats, capabilities, defaults (and, in a plugin's subclass, the protocol's
URL paths) as class attributes; :meth:`make_codec` builds the sans-I/O client
codec for a session, :meth:`make_simulator` the provider-side simulator used
by tests, conformance and the demo.

The provider is the **one** declaration of these facts: a codec is built with
its provider and reads its capabilities and wire formats from it
(:class:`voiceadapters.codec.Codec`), and so does a simulator
(:class:`voiceadapters.simulator.base.Simulator`). Importing a provider must
stay cheap (registering a plugin imports it): keep the codec and the simulator
in modules of their own, imported inside the factories.

(This module was ``voiceadapters.plugin`` before 0.2; that name still works
and warns.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from .capabilities import Capabilities
from .format import AudioFormat

if TYPE_CHECKING:
    from .codec import Codec
    from .config import ProviderConfig
    from .simulator.base import Simulator

__all__ = ["NoOptions", "Provider"]


class NoOptions(BaseModel):
    """Option schema of a provider that takes no options."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Provider(ABC):
    """Base class for a provider plugin. Subclass it and set the class attributes."""

    #: Name used in config strings (``name://…``), lower case.
    name: ClassVar[str]
    #: Other names that select this provider.
    aliases: ClassVar[tuple[str, ...]] = ()
    #: One line for ``voiceadapters providers``.
    description: ClassVar[str] = ""
    #: Transports, the first being the default (``name+transport://``).
    transports: ClassVar[tuple[str, ...]] = ("websocket",)
    #: Defaults applied when the config string leaves them out.
    default_host: ClassVar[str]
    default_port: ClassVar[int | None] = None
    default_path: ClassVar[str] = ""
    #: Environment variable holding the API key (``""``: the provider needs none).
    api_key_env: ClassVar[str] = ""
    #: Pydantic model of the provider's options (``extra="forbid"`` recommended).
    options_model: ClassVar[type[BaseModel]] = NoOptions
    #: Audio formats on the wire, client → provider and provider → client.
    wire_input: ClassVar[AudioFormat]
    wire_output: ClassVar[AudioFormat]
    #: Exact byte size of every microphone frame on the wire, when the protocol
    #: fixes one (binary-pcm: 640); ``None``: any whole number of samples.
    wire_frame_bytes: ClassVar[int | None] = None
    #: What the protocol can carry.
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Simulator scenarios, the first being the default.
    scenarios: ClassVar[tuple[str, ...]] = ("echo",)
    #: ``voiceadapters demo`` without a provider name runs this provider's
    #: simulator (when several installed providers say so: the first by name;
    #: when none does: the first installed by name).
    demo_default: ClassVar[bool] = False
    #: The longest a provider keeps one connection's session (seconds), when
    #: it documents a cap; the session rolls over to a new connection before
    #: it (:mod:`voiceadapters.reconnect`). ``None``: no cap.
    max_session_seconds: ClassVar[float | None] = None
    #: The core plugin API versions this provider supports, as a range
    #: (``">=0.2,<0.3"``); the registry refuses the plugin on a core outside
    #: it (:mod:`voiceadapters.apiversion`). ``None``: not declared (accepted).
    core_api: ClassVar[str | None] = None
    #: Where base64 audio sits in the protocol's JSON messages, as dotted
    #: paths (``"data.audio"``; ``*`` matches any one key or index), each
    #: optionally qualified by the message type it applies to
    #: (``"response.output_audio.delta:delta"``: ``delta`` is audio in that
    #: message only, whatever it carries in others). Cassettes
    #: use it to truncate or mark audio and to compare it by length
    #: (docs/cassettes.md#audio); ``()``: the cassette's heuristic decides.
    wire_audio_fields: ClassVar[tuple[str, ...]] = ()
    #: Parts of the client's traffic that differ from one run to the next by
    #: design (a connection id made per connection), which a cassette replay
    #: does not compare: ``"ws_open.path"``, ``"ws_open.query.<name>"``,
    #: ``"send.<dotted JSON path>"`` (docs/cassettes.md#comparing).
    cassette_ignore: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def make_codec(self, config: ProviderConfig) -> Codec:
        """A fresh codec for one session with ``config``."""

    @abstractmethod
    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        """A provider-side simulator accepting ``api_key``.

        ``pace`` scales the simulator's real-time pacing of agent audio:
        1.0 is real time, 0 sends as fast as possible.
        """

    def make_transport_simulator(
        self,
        transport: str | None,
        *,
        api_key: str,
        scenario: str | None = None,
        pace: float = 1.0,
    ) -> Simulator:
        """The simulator that serves ``transport`` (``None``: the default, the
        first of :attr:`transports`), which is :meth:`make_simulator`'s. A
        provider with a second transport overrides this for it (a media
        transport's simulator may run a room server beside its host,
        :meth:`~voiceadapters.simulator.base.Simulator.services`), and its
        :meth:`simulator_config` names the transport in the scheme.

        Raises :class:`~voiceadapters.errors.ConfigError` for a transport the
        provider does not list, or has no simulator for.
        """
        from .errors import ConfigError

        if transport is None or transport == self.transports[0]:
            return self.make_simulator(api_key=api_key, scenario=scenario, pace=pace)
        if transport not in self.transports:
            raise ConfigError(
                f"{self.name}: transport {transport!r} is not supported; "
                f"choose one of {', '.join(self.transports)}"
            )
        raise ConfigError(f"{self.name}: no simulator for transport {transport!r}")

    @abstractmethod
    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        """The config string (without API key) that connects to ``simulator``
        served on ``host:port`` without TLS."""

    def __repr__(self) -> str:
        return f"<Provider {self.name!r}>"
