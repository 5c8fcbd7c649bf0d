"""Simulated providers: sans-I/O provider sides, a scripted agent, an aiohttp host."""

from .agent import AGENT_SCENARIOS, Agent
from .base import DropConnection, SimRequest, Simulator, SimulatorConnection, json_response
from .server import SimulatorServer

__all__ = [
    "AGENT_SCENARIOS",
    "Agent",
    "DropConnection",
    "SimRequest",
    "Simulator",
    "SimulatorConnection",
    "SimulatorServer",
    "json_response",
]
