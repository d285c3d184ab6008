"""The Live API emulator: a faithful fake of Gemini's BidiGenerateContent WebSocket, with scheduled faults.

scenario = load_scenario("seed-replay")
async with start_emulator(scenario, latency_scale=0.0, seed=1) as emulator:
    ...  # connect to emulator.url (ws://127.0.0.1:PORT/ws/google.ai.generativelanguage.v1beta...)
"""

from monitor.emulator.scenarios import Scenario, ScenarioError, load_scenario, scenario_names
from monitor.emulator.server import RunningEmulator, build_app, start_emulator

__all__ = [
    "RunningEmulator",
    "Scenario",
    "ScenarioError",
    "build_app",
    "load_scenario",
    "scenario_names",
    "start_emulator",
]
