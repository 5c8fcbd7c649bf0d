"""Transports: the seam between the driver and the network (or memory)."""

from .base import Connection, Transport, TransportClosed

__all__ = ["Connection", "Transport", "TransportClosed"]
