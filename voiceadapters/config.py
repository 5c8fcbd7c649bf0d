"""Config strings: ``provider[+transport]://[host[:port]][/path][?option=value&…]``.

Parsing happens in two steps, like SQLAlchemy's ``make_url`` then dialect
creation:

1. :func:`parse_config` splits the string into a :class:`ConfigURL` with no
   knowledge of any plugin (syntax errors surface here);
2. :func:`resolve_config` applies a provider's defaults (host, port, TLS, path),
   validates the options against the provider's pydantic option schema, and
   finds the API key (keyword argument, ``api_key`` option, or the provider's
   environment variable, in that order). The result is a frozen
   :class:`ProviderConfig`.

Security rules (design §4):

* TLS is on by default. ``tls=false`` turns it off only for loopback hosts
  (``127.0.0.0/8``, ``::1``, ``localhost``); anywhere else it also needs
  ``allow_insecure=true``.
* The API key is a :class:`~voiceadapters.secrets.Secret`: no ``repr``,
  ``str`` or :meth:`ProviderConfig.to_string` ever shows it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError
from .limits import LIMIT_OPTIONS, Limits
from .secrets import MASK, Secret

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "COMMON_OPTIONS",
    "ConfigFacts",
    "ConfigURL",
    "ProviderConfig",
    "is_loopback",
    "loopback_config",
    "parse_bool",
    "parse_config",
    "resolve_config",
]

#: Options every provider understands (the rest belong to the provider's
#: schema): TLS, the key, reconnecting (:mod:`voiceadapters.reconnect`) and
#: the bounds of :mod:`voiceadapters.limits`.
COMMON_OPTIONS = frozenset(
    {"tls", "allow_insecure", "api_key", "reconnect", "max_session", *LIMIT_OPTIONS}
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(name: str, value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"option {name!r} must be true or false, not {value!r}")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConfigURL(BaseModel):
    """A config string split into parts, before any provider is consulted.

    ``options`` never holds the API key: an ``api_key`` option is moved to
    ``api_key`` as a :class:`~voiceadapters.secrets.Secret`.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    provider: str
    transport: str | None = None
    host: str | None = None
    port: int | None = None
    path: str = ""
    options: dict[str, str] = {}
    api_key: Secret | None = None

    def __repr__(self) -> str:
        return f"ConfigURL({self.render()!r})"

    def render(self) -> str:
        """The string form, with any API key masked."""
        scheme = self.provider + (f"+{self.transport}" if self.transport else "")
        netloc = self.host or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if self.port is not None:
            netloc += f":{self.port}"
        query = [f"{k}={quote(v, safe='')}" for k, v in self.options.items()]
        if self.api_key is not None:
            query.append(f"api_key={MASK}")
        q = ("?" + "&".join(query)) if query else ""
        return f"{scheme}://{netloc}{self.path}{q}"

    __str__ = render


def parse_config(config: str) -> ConfigURL:
    """Split ``config`` into a :class:`ConfigURL`. Raises :class:`ConfigError`.

    Error messages quote the string with any ``api_key`` value masked.
    """
    if not isinstance(config, str):
        raise ConfigError(f"a config string is a str, not {type(config).__name__}")
    if "://" not in config:
        raise ConfigError(
            f"config string {_mask_string(config)!r} has no '://'; expected "
            "'provider[+transport]://[host[:port]][/path][?option=value&…]', "
            "for example 'myprovider://?agent=…'"
        )
    scheme, _, _rest = config.partition("://")
    provider, _, transport = scheme.partition("+")
    if not provider:
        raise ConfigError(f"config string {_mask_string(config)!r} names no provider")
    try:
        parts = urlsplit(config.replace(scheme, "x", 1))
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"config string {_mask_string(config)!r}: {exc}") from None
    options: dict[str, str] = {}
    api_key: Secret | None = None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in options or (key == "api_key" and api_key is not None):
            raise ConfigError(f"option {key!r} is given twice")
        if key == "api_key":
            api_key = Secret(value)
        else:
            options[key] = value
    return ConfigURL(
        provider=provider.lower(),
        transport=transport.lower() or None,
        host=parts.hostname,
        port=port,
        path=parts.path,
        options=options,
        api_key=api_key,
    )


def _mask_string(config: str) -> str:
    """``config`` with the value of any ``api_key`` option replaced by ``***``."""
    head, sep, query = config.partition("?")
    if not sep:
        return config
    pairs = []
    for pair in query.split("&"):
        key, eq, _value = pair.partition("=")
        pairs.append(f"{key}={MASK}" if key == "api_key" and eq else pair)
    return head + "?" + "&".join(pairs)


class ProviderConfig(BaseModel):
    """A resolved, validated config for one provider. Immutable; secrets masked.

    ``options`` is the provider's option model instance (validated pydantic).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    provider: str
    transport: str
    host: str
    port: int
    path: str
    tls: bool
    options: BaseModel
    api_key: Secret | None = None
    #: ``allow_insecure=true`` was given: plain ws/http to non-loopback hosts is allowed.
    allow_insecure: bool = False
    #: ``reconnect=false`` turns reconnecting off (:mod:`voiceadapters.reconnect`).
    reconnect: bool = True
    #: ``max_session=SECONDS``: the provider's session cap, overriding the
    #: provider's own (``None``: the provider's, if it declares one).
    max_session: float | None = None
    #: The bounds the application set (:mod:`voiceadapters.limits`); the
    #: driver applies them to every handshake step.
    limits: Limits = Limits()

    def allows_plain(self, host: str) -> bool:
        """May this config talk plain (unencrypted) ws/http to ``host``?

        For URLs a provider hands back (a ``ws_url`` from a token response):
        loopback always; elsewhere only with ``allow_insecure=true``.
        """
        return is_loopback(host) or self.allow_insecure

    def session_cap(self, provider_cap: float | None) -> float | None:
        """The session cap in force: ``max_session`` if given, else the provider's."""
        return self.max_session if self.max_session is not None else provider_cap

    @property
    def http_base(self) -> str:
        """``https://host[:port]`` (no trailing slash; ``http`` when TLS is off)."""
        return self._base("https" if self.tls else "http")

    @property
    def ws_base(self) -> str:
        """``wss://host[:port]`` (``ws`` when TLS is off)."""
        return self._base("wss" if self.tls else "ws")

    def _base(self, scheme: str) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == default else f":{self.port}"
        return f"{scheme}://{host}{port}{self.path.rstrip('/')}"

    def options_as(self, model: type[M]) -> M:
        """:attr:`options` as an instance of ``model`` (the plugin's option
        schema): as it is when it already is one, else validated into one, so
        a config built against another schema fails here, not later."""
        if isinstance(self.options, model):
            return self.options
        try:
            return model.model_validate(self.options.model_dump())
        except ValidationError as exc:
            raise ConfigError(f"{self.provider}: invalid options: {exc}") from None

    def require_api_key(self, env_var: str) -> Secret:
        if not self.api_key:
            raise ConfigError(
                f"{self.provider}: no API key; set {env_var} "
                "(or pass api_key=… to voiceadapters.connect())"
            )
        return self.api_key

    def to_string(self) -> str:
        """The config as a string, secrets masked, options that differ from defaults."""
        opts = self.options.model_dump(exclude_defaults=True, mode="json")
        query = [f"{k}={quote(_option_text(v), safe='')}" for k, v in opts.items()]
        if not self.tls:
            query.insert(0, "tls=false")
        if self.allow_insecure:
            query.insert(1 if not self.tls else 0, "allow_insecure=true")
        if not self.reconnect:
            query.append("reconnect=false")
        if self.max_session is not None:
            query.append(f"max_session={self.max_session:g}")
        query.extend(f"{k}={v}" for k, v in self.limits.options().items())
        if self.api_key is not None:
            query.append(f"api_key={MASK}")
        scheme = self.provider + (f"+{self.transport}" if self.transport != "websocket" else "")
        q = ("?" + "&".join(query)) if query else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.path}{q}"

    def __repr__(self) -> str:
        return f"ProviderConfig({self.to_string()!r})"

    __str__ = to_string


def loopback_config(provider: str, host: str, port: int, **options: str) -> str:
    """The config string of a plain (no TLS) simulator at ``host:port``:
    ``provider://host:port?tls=false&option=value…`` (IPv6 hosts bracketed,
    values quoted). What :meth:`Provider.simulator_config` usually returns."""
    netloc = f"[{host}]" if ":" in host else host
    query = "".join(f"&{k}={quote(v, safe='')}" for k, v in options.items())
    return f"{provider}://{netloc}:{port}?tls=false{query}"


def _option_text(value: Any) -> str:
    """An option value as it is written in a config string (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ConfigFacts(Protocol):
    """What :func:`resolve_config` reads from a provider (every
    :class:`~voiceadapters.provider.Provider` has it; a protocol here so that
    this module does not import the provider module, which imports this one)."""

    @property
    def name(self) -> str: ...
    @property
    def transports(self) -> tuple[str, ...]: ...
    @property
    def default_host(self) -> str: ...
    @property
    def default_port(self) -> int | None: ...
    @property
    def default_path(self) -> str: ...
    @property
    def api_key_env(self) -> str: ...
    @property
    def options_model(self) -> type[BaseModel]: ...


def resolve_config(
    url: ConfigURL,
    provider: ConfigFacts,
    *,
    api_key: str | Secret | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> ProviderConfig:
    """Apply ``provider``'s defaults and option schema to ``url``.

    Keyword ``options`` override options in the string. Raises
    :class:`ConfigError` naming the offending option (never its secret value).
    """
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = dict(url.options)
    merged.update(options)
    transport = url.transport or provider.transports[0]
    if transport not in provider.transports:
        raise ConfigError(
            f"{provider.name}: transport {transport!r} is not supported; "
            f"choose one of {', '.join(provider.transports)}"
        )
    tls = parse_bool("tls", merged.pop("tls", True))
    allow_insecure = parse_bool("allow_insecure", merged.pop("allow_insecure", False))
    reconnect = parse_bool("reconnect", merged.pop("reconnect", True))
    max_session = _parse_seconds("max_session", merged.pop("max_session", None))
    limits = Limits.pop_options(merged)
    host = url.host or provider.default_host
    if not tls and not is_loopback(host) and not allow_insecure:
        raise ConfigError(
            f"{provider.name}: plain (unencrypted) ws:// and http:// are only allowed to "
            f"loopback hosts; {host!r} is not one. Remove tls=false, or add "
            "allow_insecure=true if you really mean to send credentials in clear text."
        )
    port = url.port if url.port is not None else (provider.default_port or (443 if tls else 80))
    key: Secret | None
    if api_key is not None:
        key = Secret(api_key)
    elif url.api_key is not None:
        key = url.api_key
    elif provider.api_key_env and env.get(provider.api_key_env):
        key = Secret(env[provider.api_key_env])
    else:
        key = None
    try:
        opts = provider.options_model.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
            for err in exc.errors()
        )
        known = ", ".join(sorted(provider.options_model.model_fields) + sorted(COMMON_OPTIONS))
        raise ConfigError(
            f"{provider.name}: invalid options ({problems}); known options: {known}"
        ) from None
    return ProviderConfig(
        provider=provider.name,
        transport=transport,
        host=host,
        port=port,
        path=url.path or provider.default_path,
        tls=tls,
        options=opts,
        api_key=key,
        allow_insecure=allow_insecure,
        reconnect=reconnect,
        max_session=max_session,
        limits=limits,
    )


def _parse_seconds(name: str, value: Any) -> float | None:
    """A positive number of seconds from a config string or a keyword, or ``None``."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name!r} must be a number of seconds, not {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"option {name!r} must be a positive number of seconds, not {value!r}")
    return seconds
