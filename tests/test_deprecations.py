"""Names renamed in 0.2 keep working for one release, and say so.

Nothing a user imported breaks silently: the old spelling works and raises a
``DeprecationWarning`` that names the new one.
"""

from __future__ import annotations

import warnings

import pytest

from voiceadapters.capabilities import Capabilities
from voiceadapters.codec import Codec
from voiceadapters.commands import Command, SendAudio, SendText
from voiceadapters.config import ProviderConfig, parse_config, resolve_config
from voiceadapters.errors import UnsupportedCommandError
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import CloseFrame, Frame, OutFrame
from voiceadapters.provider import Provider
from voiceadapters_example import ExampleProvider
from voiceadapters_example.codec import ExampleCodec


def _config() -> ProviderConfig:
    provider = ExampleProvider()
    return resolve_config(parse_config("example://"), provider, api_key="k")


def test_the_old_provider_module_still_gives_the_provider_class_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match=r"voiceadapters\.provider"):
        from voiceadapters.plugin import Provider as Old
    assert Old is Provider


def test_frame_types_are_still_importable_from_handshake() -> None:
    from voiceadapters import frames

    assert (CloseFrame, Frame, OutFrame) == (frames.CloseFrame, frames.Frame, frames.OutFrame)


def test_codec_send_is_handle_command_and_warns() -> None:
    codec = ExampleCodec(_config())
    codec.handshake_step()
    codec.connection_opened()
    with pytest.warns(DeprecationWarning, match="handle_command"):
        codec.send(SendAudio(pcm=b"\x01\x00"))
    assert codec.frames_to_send() == [b"\x01\x00"]


def test_a_codec_with_class_attribute_facts_still_works_and_warns() -> None:
    class OldStyle(ExampleCodec):
        provider = "old-style"
        capabilities = Capabilities(user_transcripts=True)
        wire_input = AudioFormat(8000)
        wire_output = AudioFormat(8000)

        def __init__(self, config: ProviderConfig) -> None:
            Codec.__init__(self)  # the 0.1 call: no provider
            self.config = config
            self.options = ExampleProvider.options_model()
            self._api_key = config.require_api_key("K")
            self._opened = False
            self._turn = None

    with pytest.warns(DeprecationWarning, match="pass the codec's Provider"):
        codec = OldStyle(_config())
    assert (codec.provider, codec.wire_input) == ("old-style", AudioFormat(8000))
    with pytest.raises(UnsupportedCommandError, match="old-style"):
        codec.handle_command(SendText(text="hi"))


def test_a_codec_overriding_send_still_sees_every_command() -> None:
    seen: list[str] = []

    with pytest.warns(DeprecationWarning, match="overrides Codec.send"):

        class Legacy(ExampleCodec):
            def send(self, command: Command) -> None:
                seen.append(command.type)
                super().send(command)

    codec = Legacy(_config())
    codec.handshake_step()
    codec.connection_opened()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the routed call itself does not warn again
        codec.handle_command(SendAudio(pcm=b"\x02\x00"))
        codec.handle_audio(b"\x03\x00")  # the session's audio path reaches the override too
    assert seen == ["send_audio", "send_audio"]
    assert codec.frames_to_send() == [b"\x02\x00", b"\x03\x00"]
