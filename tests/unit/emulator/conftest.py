"""The emulator fixtures of the integration tests (a real emulator on a loopback port), for the unit tests of
wire behaviours, which run over real sockets too."""

from tests.integration.emulator.conftest import _emulator, _emulator_with

__all__ = ["_emulator", "_emulator_with"]
