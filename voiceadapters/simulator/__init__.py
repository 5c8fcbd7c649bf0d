"""Simulated providers: sans-I/O provider sides, a scripted agent, an aiohttp host.

The host (:class:`SimulatorServer`, aiohttp's server) is imported on first
use: a client session, a codec test or a plugin's registration never pays for
it.
"""

from typing import TYPE_CHECKING, Any

from .agent import AGENT_SCENARIOS, Agent
from .base import (
    AgentConnection,
    DropConnection,
    SimRequest,
    Simulator,
    SimulatorConnection,
    json_response,
)

if TYPE_CHECKING:
    from .server import SimulatorServer

__all__ = [
    "AGENT_SCENARIOS",
    "Agent",
    "AgentConnection",
    "DropConnection",
    "SimRequest",
    "Simulator",
    "SimulatorConnection",
    "SimulatorServer",
    "json_response",
]


def __getattr__(name: str) -> Any:
    if name == "SimulatorServer":
        from .server import SimulatorServer

        globals()[name] = SimulatorServer
        return SimulatorServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
