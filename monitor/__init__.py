"""live-monitor: a continuous synthetic monitor for Google's Gemini Live API."""

__version__ = "0.1.0"
