"""Every exception voiceadapters raises, as one tree.

The rule (borrowed from h11): *your* misuse raises at the call; *the peer's*
misbehaviour is reported as an event (``provider_error``, ``unknown_message``,
``session_ended``) and the session goes on where it can. Exceptions therefore
only come from three places: building a session (bad config, unknown
provider, a failed handshake), calling a command the session cannot honour
(closed session, missing capability, malformed audio), and plugin loading.

::

    VoiceAdaptersError
    ├── ConfigError                  bad config string / option / insecure URL
    │   └── UnknownProviderError     no installed plugin has that name
    ├── PluginError                  a plugin failed to load or broke the contract
    ├── AudioFormatError (ValueError) bytes that are not whole samples, bad WAV, ...
    ├── UnsupportedCommandError      the provider lacks the capability
    ├── BufferOverflowError          audio sent before the provider was ready overflowed
    ├── SessionClosedError           command after the session ended
    └── ConnectError                 the session could not be established
        ├── HandshakeTimeout         a handshake step took too long
        ├── TokenRequestError        the provider's HTTP token step failed
        │   └── AuthenticationError  ... with 401/403: the key was refused
        └── WebSocketRejected        the WebSocket upgrade was refused (HTTP status)

No exception message ever contains an API key or token: they are carried as
:class:`voiceadapters.secrets.Secret` values, which render masked.
"""

from __future__ import annotations

__all__ = [
    "AudioFormatError",
    "AuthenticationError",
    "BufferOverflowError",
    "ConfigError",
    "ConnectError",
    "HandshakeTimeout",
    "PluginError",
    "SessionClosedError",
    "TokenRequestError",
    "UnknownProviderError",
    "UnsupportedCommandError",
    "VoiceAdaptersError",
    "WebSocketRejected",
    "token_error",
]


class VoiceAdaptersError(Exception):
    """Base class of every error raised by voiceadapters."""


class ConfigError(VoiceAdaptersError):
    """A config string or option is invalid (syntax, missing option, insecure URL)."""


class UnknownProviderError(ConfigError):
    """No installed plugin provides the requested provider name."""

    def __init__(self, name: str, installed: list[str]) -> None:
        self.name = name
        self.installed = sorted(installed)
        listing = ", ".join(self.installed) if self.installed else "none"
        super().__init__(
            f"unknown provider {name!r}; installed providers: {listing}. "
            f"A third-party provider is installed with its own distribution "
            f"(for example `pip install voiceadapters-{name}`) and registers itself "
            f"under the entry-point group 'voiceadapters.providers'."
        )


class PluginError(VoiceAdaptersError):
    """A plugin could not be loaded or does not honour the plugin contract."""


class AudioFormatError(VoiceAdaptersError, ValueError):
    """Audio that cannot be interpreted in the declared format.

    Raised for the caller's own audio (for example an odd number of bytes for
    16-bit PCM) before anything is consumed, so the caller loses nothing.
    """


class UnsupportedCommandError(VoiceAdaptersError):
    """The provider's protocol has no way to carry this command."""

    def __init__(self, provider: str, capability: str, command: str) -> None:
        self.provider = provider
        self.capability = capability
        self.command = command
        super().__init__(
            f"provider {provider!r} does not support {command}: "
            f"capability {capability!r} is false for this provider"
        )


class BufferOverflowError(VoiceAdaptersError):
    """Audio sent before the provider was ready to take it overflowed the
    bounded buffer that holds it. The rejected chunk was not consumed (nothing
    of it was buffered), so the caller may retry it once the session is ready."""

    def __init__(
        self, provider: str, limit_bytes: int, pending_bytes: int, chunk_bytes: int
    ) -> None:
        self.provider = provider
        self.limit_bytes = limit_bytes
        self.pending_bytes = pending_bytes
        self.chunk_bytes = chunk_bytes
        super().__init__(
            f"{provider}: the session is not ready for audio yet and its buffer is full "
            f"({pending_bytes} of {limit_bytes} bytes held; a {chunk_bytes}-byte chunk does "
            "not fit); wait for session_started before sending more"
        )


class SessionClosedError(VoiceAdaptersError):
    """A command was issued after the session ended."""


class ConnectError(VoiceAdaptersError):
    """The session could not be established."""


class HandshakeTimeout(ConnectError):
    """A handshake step (the token request, the WebSocket opening) took longer
    than its bound (``http_timeout``, ``open_timeout``). A provider that opens
    the socket and then says nothing is not this: the session ends with
    ``session_ended(reason="timeout")`` (``first_message_timeout``)."""


class TokenRequestError(ConnectError):
    """The provider's HTTP token endpoint answered with an error.

    ``status`` is the HTTP status of the response (a 200 whose body is not
    the expected JSON is an error too, with ``status=200``; ``None`` is
    reserved for a step that got no HTTP response at all); ``provider_message``
    is what the provider said, as far as it could be read (never the API key
    or a token, even when the server echoes them back: they are masked).
    ``retry_after`` is the wait in seconds the server asked for with
    ``Retry-After`` (usually on 429 and 503; seconds or an HTTP date, read
    as seconds from when the answer came), else ``None``.
    """

    def __init__(
        self,
        provider: str,
        status: int | None,
        provider_message: str,
        *,
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.provider_message = provider_message
        self.url = url
        self.retry_after = retry_after
        where = f" from {url}" if url else ""
        code = f"HTTP {status}" if status is not None else "an invalid response"
        retry = f" (Retry-After: {retry_after:g} s)" if retry_after is not None else ""
        super().__init__(
            f"{provider}: token request failed with {code}{where}: {provider_message}{retry}"
        )


class AuthenticationError(TokenRequestError):
    """The provider refused the credentials (HTTP 401 or 403)."""


def token_error(
    provider: str,
    status: int,
    provider_message: str,
    *,
    url: str = "",
    retry_after: float | None = None,
) -> TokenRequestError:
    """The typed error for a failed token request: :class:`AuthenticationError`
    for 401/403, :class:`TokenRequestError` otherwise."""
    kind = AuthenticationError if status in (401, 403) else TokenRequestError
    return kind(provider, status, provider_message, url=url, retry_after=retry_after)


class WebSocketRejected(ConnectError):
    """The WebSocket upgrade was answered with an HTTP error status."""

    def __init__(self, provider: str, status: int, provider_message: str = "") -> None:
        self.provider = provider
        self.status = status
        self.provider_message = provider_message
        detail = f": {provider_message}" if provider_message else ""
        super().__init__(f"{provider}: WebSocket upgrade rejected with HTTP {status}{detail}")
