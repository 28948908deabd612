"""smartsender-async: the asyncio SDK for the Smart Sender messenger platform REST API."""

from smartsender_async._version import __version__

__all__ = ["__version__"]
