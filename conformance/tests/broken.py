"""Deliberately broken plugins: well-behaved providers, each with ONE defect.

Every broken plugin here is a working provider — the example plugin where its
capabilities cover the case, else a first-party plugin — whose codec (once,
for 1.3, whose simulator) gets a single realistic bug aimed at one case.
``test_broken_plugins.py`` runs the whole suite against each and asserts that
the families with a ``fail`` are exactly the family of the case it aims at,
and that the aimed-at case is among the failures. Together they prove that
no case passes vacuously (except the few listed in :data:`NOT_TARGETED`, with
the reason) and that no case judges more than it claims.

:data:`PRIMARY` names one broken plugin per family: the issue's "each case
family has a deliberately broken plugin".

Defects only use the plugins' public classes and the codec contract
(:mod:`voiceadapters.codec`): a public method (``handshake_step``, ``send``,
``events_received``) or a hook the contract documents for subclasses
(``_on_frame``, ``_on_closed``). Each broken provider has its own name
(``broken-<case id>-…``), and so does its codec, so that error messages name
it; its ``simulator_config`` rewrites the base's config string to that name,
so the network level (which looks providers up by name) reaches it once
:data:`PLUGIN` is registered.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any, ClassVar

from voiceadapters.codec import Codec, default_close_reason
from voiceadapters.commands import COMMAND_CAPABILITY, Command, SendAudio, SendToolResult
from voiceadapters.config import ProviderConfig
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentReady,
    AgentText,
    Emotion,
    Event,
    Interruption,
    ProviderError,
    SessionStarted,
    UnknownMessage,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.handshake import Frame, HttpRequest, WebSocketRequest
from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider
from voiceadapters.secrets import reveal
from voiceadapters.simulator.base import SimRequest, Simulator
from voiceadapters_conformance.framework import CASES
from voiceadapters_example import ExampleProvider
from voiceadapters_example.codec import ExampleCodec
from voiceadapters_example.simulator import ExampleSimulator

__all__ = [
    "BROKEN",
    "EXTRA",
    "MISSING",
    "NETWORK_ONLY",
    "NOT_TARGETED",
    "PLUGIN",
    "PRIMARY",
    "Broken",
    "by_target",
]

#: Every broken provider, in case order.
BROKEN: list[Provider] = []
#: Broken plugins whose base plugin is not installed: (target case, name).
MISSING: list[tuple[str, str]] = []
#: Further defects aimed at a case that already has its broken plugin: each
#: must fail exactly its family too.
EXTRA: list[Provider] = []
#: Broken plugins aimed at a network-only case: each fails exactly that case
#: at the network level (the codec level cannot run it).
NETWORK_ONLY: list[Provider] = []

#: Cases no single plugin defect can make fail on its own, and why.
NOT_TARGETED: dict[str, str] = {
    "9.3": "tests the session's bounded queue (core); its other checks repeat 2.1, 4.1 and 4.3",
    "9.4": "network only (reconnect is the session's); its broken plugin is in NETWORK_ONLY",
}


class Broken:
    """Mixin of every broken provider: what it breaks, under its own name."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    #: The case the defect aims at, and the family that must be the only one failing.
    target: ClassVar[str]
    family: ClassVar[str]
    defect: ClassVar[str]
    codec_class: ClassVar[type[Codec]]

    def make_codec(self, config: ProviderConfig) -> Codec:
        # Built with this provider, so the codec carries the broken plugin's name.
        return self.codec_class(config, provider=self)  # type: ignore[call-arg]

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        text: str = super().simulator_config(host, port, simulator)  # type: ignore[misc]
        return self.name + text[text.index("://") :]

    def __repr__(self) -> str:
        return f"<broken {self.name!r}: {self.defect}>"


def broken(
    base: type[Provider] | None,
    target: str,
    *,
    make: Callable[[type[Codec], ProviderConfig, Provider], Codec] | None = None,
    simulator: type[Simulator] | None = None,
    extra: bool = False,
    network_only: bool = False,
) -> Callable[[type[Codec]], type[Codec]]:
    """Class decorator for a broken codec: registers a provider deriving from
    ``base`` whose codec it is, aimed at case ``target``. The codec's
    docstring is the defect. ``make(codec_class, config, provider)`` builds
    the codec when its constructor wants more than the config and provider; ``simulator`` replaces
    the base's simulator class. ``extra=True`` files it under :data:`EXTRA`
    instead, ``network_only=True`` under :data:`NETWORK_ONLY`. ``base=None``: the base plugin is not installed."""

    def register(codec_class: type[Codec]) -> type[Codec]:
        words = re.sub(r"(?<!^)(?=[A-Z])", "-", codec_class.__name__).lower()
        name = f"broken-{target}-{words}"
        if base is None:
            if not extra:
                MISSING.append((target, name))
            return codec_class
        attrs: dict[str, Any] = {
            "name": name,
            "target": target,
            "family": CASES[target].family,
            "defect": " ".join((codec_class.__doc__ or "").split()),
            "codec_class": codec_class,
        }
        if make is not None:
            attrs["make_codec"] = lambda self, config: make(codec_class, config, self)
        if simulator is not None:
            attrs["make_simulator"] = lambda self, *, api_key, scenario=None, pace=1.0: simulator(
                api_key, scenario=scenario or self.scenarios[0], pace=pace
            )
        provider = type(f"Broken{codec_class.__name__}", (Broken, base), attrs)()
        (NETWORK_ONLY if network_only else EXTRA if extra else BROKEN).append(provider)
        return codec_class

    return register


def _replace(events: list[Event], kind: type, new: Callable[[Any], Event | None]) -> list[Event]:
    """``events`` with each event of type ``kind`` replaced by ``new(event)`` (None: dropped)."""
    out: list[Event] = []
    for event in events:
        replacement = new(event) if isinstance(event, kind) else event
        if replacement is not None:
            out.append(replacement)
    return out


# == 1 handshake ====================================================================


@broken(ExampleProvider, "1.1")
class HardCodedHost(ExampleCodec):
    """The WebSocket URL ignores the configured host and port."""

    def handshake_step(self) -> HttpRequest | WebSocketRequest | None:
        step = super().handshake_step()
        if step is None:
            return None
        return dataclasses.replace(step, url="wss://parrot.example.com/v1/talk")


@broken(ExampleProvider, "1.2")
class PlainKeyHeader(ExampleCodec):
    """The API key header is a plain str, not a Secret."""

    def handshake_step(self) -> HttpRequest | WebSocketRequest | None:
        step = super().handshake_step()
        if step is None:
            return None
        return dataclasses.replace(step, headers=tuple((k, reveal(v)) for k, v in step.headers))


class AnyKeySimulator(ExampleSimulator):
    """A Parrot server that lets any API key in."""

    def open_websocket(self, request: SimRequest, now: float) -> Any:
        headers = {**request.headers, "authorization": "Bearer " + self._api_key}
        return super().open_websocket(dataclasses.replace(request, headers=headers), now)


@broken(ExampleProvider, "1.3", simulator=AnyKeySimulator)
class WrongKeyAccepted(ExampleCodec):
    """The simulator accepts any API key (a simulator defect: 1.3 judges how
    the provider answers a wrong key, which no codec decides)."""


# == 2 lifecycle ====================================================================


@broken(ExampleProvider, "2.1")
class ErrorBeforeStart(ExampleCodec):
    """A spurious provider_error comes before session_started."""

    def events_received(self) -> list[Event]:
        events = super().events_received()
        if any(isinstance(e, SessionStarted) for e in events):
            events.insert(0, ProviderError(code="early", message="a warning before the start"))
        return events


@broken(ExampleProvider, "2.2")
class EveryCloseCompleted(ExampleCodec):
    """A normal close (1000) always ends with 'completed', even one the
    application asked for."""

    def _on_closed(self, code: int | None, reason: str) -> None:
        if code == 1000:
            self._end("completed", close_code=code)
        else:
            super()._on_closed(code, reason)


@broken(ExampleProvider, "2.3")
class ByeIsError(ExampleCodec):
    """The provider's own end of the session ('bye') ends with reason 'error'."""

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, str) and '"bye"' in frame:
            self._end("error", provider_reason="bye")
            return
        super()._on_frame(frame)


try:
    from voiceadapters_binary_pcm import BinaryPcmCodec, BinaryPcmProvider
except ImportError:  # pragma: no cover - the binary-pcm plugin is not installed
    BinaryPcmCodec, BinaryPcmProvider = ExampleCodec, None  # type: ignore[assignment,misc]


@broken(BinaryPcmProvider, "2.4")
class AgentReadyLost(BinaryPcmCodec):
    """agent_ready is never reported."""

    def events_received(self) -> list[Event]:
        return _replace(super().events_received(), AgentReady, lambda e: None)


@broken(ExampleProvider, "2.5")
class LackingCommandsIgnored(ExampleCodec):
    """Commands the provider lacks are silently ignored instead of raising."""

    def handle_command(self, command: Command) -> None:
        capability = COMMAND_CAPABILITY.get(command.type)
        if capability is not None and not getattr(self.capabilities, capability):
            return
        super().handle_command(command)


# == 3 audio ========================================================================


@broken(ExampleProvider, "3.1")
class LastSampleDropped(ExampleCodec):
    """An off-by-one slice drops the last sample of every microphone chunk."""

    def handle_command(self, command: Command) -> None:
        if isinstance(command, SendAudio) and len(command.pcm) > 2:
            command = SendAudio(pcm=command.pcm[:-2])
        super().handle_command(command)


# == 4 transcripts and text ===========================================================


@broken(ExampleProvider, "4.1")
class FinalTranscriptsAsInterim(ExampleCodec):
    """Final transcripts are reported as interim ones."""

    def events_received(self) -> list[Event]:
        return _replace(
            super().events_received(),
            UserTranscript,
            lambda e: e.model_copy(update={"final": False}),
        )


try:
    from voiceadapters_vatel import VatelCodec, VatelProvider
except ImportError:  # pragma: no cover - the Vatel plugin is not installed
    VatelCodec, VatelProvider = ExampleCodec, None  # type: ignore[assignment,misc]


@broken(VatelProvider, "4.2")
class EveryTextFinal(VatelCodec):
    """Every agent_text is final (the codec reads the final flag under the wrong name)."""

    def events_received(self) -> list[Event]:
        return _replace(
            super().events_received(), AgentText, lambda e: e.model_copy(update={"final": True})
        )


@broken(ExampleProvider, "4.3")
class DoneWithoutTurn(ExampleCodec):
    """agent_audio_done does not say which turn it ends."""

    def events_received(self) -> list[Event]:
        return _replace(super().events_received(), AgentAudioDone, lambda e: AgentAudioDone())


@broken(VatelProvider, "4.4")
class SpeechStoppedLost(VatelCodec):
    """user_speech_stopped is never reported."""

    def events_received(self) -> list[Event]:
        return _replace(super().events_received(), UserSpeechStopped, lambda e: None)


try:
    from voiceadapters_nextevi import NextEVICodec, NextEVIProvider, new_connection_id
except ImportError:  # pragma: no cover - the NextEVI plugin is not installed
    NextEVICodec, NextEVIProvider = ExampleCodec, None  # type: ignore[assignment,misc]


def _nextevi(codec_class: type[Codec], config: ProviderConfig, provider: Provider) -> Codec:
    return codec_class(  # type: ignore[call-arg]
        config, connection_id=new_connection_id(), provider=provider
    )


@broken(NextEVIProvider, "4.5", make=_nextevi)
class TextInputNotSent(NextEVICodec):
    """send_text is accepted but never reaches the provider."""

    def handle_command(self, command: Command) -> None:
        if command.type != "send_text":
            super().handle_command(command)


# == 5 interruption ====================================================================


@broken(VatelProvider, "5.1")
class InterruptionWithoutTurn(VatelCodec):
    """interruption does not say which turn it cut off."""

    def events_received(self) -> list[Event]:
        return _replace(super().events_received(), Interruption, lambda e: Interruption())


@broken(NextEVIProvider, "5.2", make=_nextevi)
class InterruptNotSent(NextEVICodec):
    """interrupt() is accepted but never reaches the provider."""

    def handle_command(self, command: Command) -> None:
        if command.type != "interrupt":
            super().handle_command(command)


# == 6 tools =============================================================================


@broken(VatelProvider, "6.1")
class ResultUnderWrongId(VatelCodec):
    """Tool results are sent under a call id of the codec's own making."""

    def handle_command(self, command: Command) -> None:
        if isinstance(command, SendToolResult):
            command = SendToolResult(call_id="result-1", output=command.output)
        super().handle_command(command)


# == 7 emotion ============================================================================


@broken(NextEVIProvider, "7.1", make=_nextevi)
class EmotionUnmapped(NextEVICodec):
    """Emotion scores are passed on as unknown_message."""

    def events_received(self) -> list[Event]:
        return _replace(
            super().events_received(), Emotion, lambda e: UnknownMessage(raw=e.model_dump())
        )


# == 8 errors ==============================================================================


@broken(ExampleProvider, "8.1")
class MalformedIsFatal(ExampleCodec):
    """A frame that is not JSON is a fatal error that ends the session."""

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, str):
            try:
                json.loads(frame)
            except ValueError:
                self._emit(ProviderError(code="malformed_json", message="bad", fatal=True))
                self._end("error")
                return
        super()._on_frame(frame)


@broken(ExampleProvider, "8.2")
class UnknownDropped(ExampleCodec):
    """Messages the codec does not know are silently dropped."""

    def events_received(self) -> list[Event]:
        return _replace(super().events_received(), UnknownMessage, lambda e: None)


@broken(ExampleProvider, "8.3")
class InternalErrorCompleted(ExampleCodec):
    """A close with 1011 (internal error) ends with 'completed'."""

    def _on_closed(self, code: int | None, reason: str) -> None:
        if code == 1011:
            self._end("completed", close_code=code)
        else:
            super()._on_closed(code, reason)


# == 9 resilience ============================================================================


@broken(ExampleProvider, "9.1")
class LostIsCompleted(ExampleCodec):
    """A lost connection ends with 'completed'."""

    def _on_closed(self, code: int | None, reason: str) -> None:
        if default_close_reason(code, client_closing=self.closing) == "connection_lost":
            self._end("completed", close_code=code)
        else:
            super()._on_closed(code, reason)


@broken(ExampleProvider, "9.2")
class ShutdownCompleted(ExampleCodec):
    """A server going away (close 1001) ends with 'completed'."""

    def _on_closed(self, code: int | None, reason: str) -> None:
        if code == 1001:
            self._end("completed", close_code=code)
        else:
            super()._on_closed(code, reason)


# == formerly known gaps, caught since the cases compare with the agent's ground truth ==


@broken(ExampleProvider, "3.4")
class AgentSamplesLost(ExampleCodec):
    """The last sample of every agent audio frame is lost (3.4-3.6 compare the
    codec's audio with what the simulator's agent spoke)."""

    def events_received(self) -> list[Event]:
        return _replace(
            super().events_received(),
            AgentAudio,
            lambda e: e.model_copy(update={"pcm": e.pcm[:-2]}),
        )


@broken(ExampleProvider, "9.4", network_only=True)
class NeverResumes(ExampleCodec):
    """Every end is final: a dropped connection is never continued on a new one."""

    @property
    def resumable(self) -> bool:
        return False


@broken(VatelProvider, "4.2", extra=True)
class TextIsOnlyTheDelta(VatelCodec):
    """agent_text.text carries only the delta (4.2 compares the final text
    with the reply the simulator's agent said)."""

    def events_received(self) -> list[Event]:
        return _replace(
            super().events_received(), AgentText, lambda e: e.model_copy(update={"text": e.delta})
        )


#: One broken plugin per family (the issue's acceptance): target case per family.
PRIMARY: dict[str, str] = {
    "handshake": "1.2",
    "lifecycle": "2.2",
    "audio": "3.1",
    "transcripts and text": "4.3",
    "interruption": "5.1",
    "tools": "6.1",
    "emotion": "7.1",
    "errors": "8.1",
    "resilience": "9.1",
}


class BrokenPlugins:
    """A plugin object offering every broken provider (for run-time registration)."""

    @hookimpl
    def voiceadapters_providers(self) -> list[Provider]:
        return [*BROKEN, *NETWORK_ONLY]


PLUGIN = BrokenPlugins()


def by_target() -> dict[str, Provider]:
    """Target case id → its broken provider."""
    return {p.target: p for p in BROKEN}  # type: ignore[attr-defined]
