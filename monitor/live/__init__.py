"""The Gemini Live API wire format and one session: build and parse messages, run a turn, take phase marks."""
