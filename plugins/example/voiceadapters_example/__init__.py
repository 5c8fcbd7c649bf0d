"""The example voiceadapters plugin: *Parrot*, a toy voice agent that repeats what you say.

It is written only against voiceadapters' public API, as a template for your
own adapter; the "Writing an adapter" guide walks through it. Modules:

``provider.py``   names, defaults, options, wire formats, capabilities (plain data)
``codec.py``      the client side of the protocol, sans I/O (:class:`~.codec.ExampleCodec`)
``simulator.py``  the server side, for tests and ``voiceadapters simulate example``
``plugin.py``     the entry point voiceadapters loads

This package imports only ``provider.py``, so that registering the plugin
stays cheap; import the codec and simulator from their modules.

The Parrot protocol
-------------------
One WebSocket, ``wss://parrot.example.com/v1/talk?voice=polly``, authorised
by an ``Authorization: Bearer <api key>`` header (a wrong key: HTTP 401).
There is no token step and no first client message.

* **Binary frames** are raw audio, 16-bit little-endian PCM, 16 kHz, mono,
  in both directions: the microphone from the client (any whole number of
  samples per frame), the parrot's voice from the server.
* **Text frames** from the server are JSON objects with an ``event`` field:

  - ``{"event": "ready", "session": "<id>"}`` — first, when the session starts;
  - ``{"event": "heard", "text": "…", "final": false, "turn": "turn-1"}`` —
    what the parrot heard so far (``final``: the utterance is over);
  - ``{"event": "speaking", "turn": "turn-1"}`` — the binary frames that follow
    are the reply of that turn;
  - ``{"event": "done", "turn": "turn-1"}`` — that reply's audio is over (also
    when the user talked over it and the parrot stopped);
  - ``{"event": "error", "code": "…", "message": "…"}`` — something went wrong,
    the session goes on;
  - ``{"event": "bye", "reason": "goodbye" | "shutdown"}`` — the server ends
    the session, then closes the WebSocket with 1000.

* The client sends no text frames; it ends the session with a close 1000.
"""

from __future__ import annotations

from .provider import (
    API_KEY_ENV,
    CAPABILITIES,
    SCENARIOS,
    TALK_PATH,
    WIRE_FORMAT,
    ExampleOptions,
    ExampleProvider,
)

__all__ = [
    "API_KEY_ENV",
    "CAPABILITIES",
    "SCENARIOS",
    "TALK_PATH",
    "WIRE_FORMAT",
    "ExampleOptions",
    "ExampleProvider",
]
