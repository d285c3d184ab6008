"""The built-in demo configuration: the text of the shipped `config/monitor.yaml`, for `run --demo` anywhere.

A test keeps the two identical, so the documented example is exactly what a first run uses.
"""

DEMO_CONFIG_YAML = """\
# live-monitor configuration (docs/configuration.md describes every setting).
#
# This is also the built-in demo configuration: `live-monitor run --demo` uses it when no config file is
# found, and points every model below at the in-process emulator (seed-replay scenario, no API key needed).
# Any setting can be overridden from the environment: LIVE_MONITOR_<SECTION>__<KEY>, for example
# LIVE_MONITOR_PROBES__INTERVAL=30s or LIVE_MONITOR_BUDGETS__SESSIONS_PER_MINUTE=60.

# The vantage point's name; Prometheus adds it as a target label (the exporter itself does not).
vantage: local

# The web app: /metrics, /healthz, the status page / and /api/results. `--listen` overrides it.
listen: 0.0.0.0:9478

# Where probes go. The key comes from $GEMINI_API_KEY (api_key_env) or, for Docker secrets, from
# api_key_file; it is never logged, exported or stored. auth: header (x-goog-api-key), query (?key=),
# token (an ephemeral token minted per session with the key, as browser apps do), bearer (Vertex AI on
# Google credentials, refreshed before they expire). docs/configuration.md, "Authentication", has all three.
endpoints:
  - name: gemini-api
    url: wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent
    auth: header
    api_key_env: GEMINI_API_KEY
    # api_key_file: /run/secrets/gemini_api_key
  # - name: vertex                # models name it with `endpoint: vertex`
  #   url: wss://us-central1-aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent
  #   auth: bearer
  #   credentials_file: /run/secrets/vertex-sa.json   # unset: $GOOGLE_APPLICATION_CREDENTIALS, gcloud ADC
  # - name: browser-path
  #   url: wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained
  #   auth: token
  #   token: {uses: 1, expire: 5m, new_session_expire: 1m}

# What to probe. alias: true marks a moving alias (e.g. -latest); false a pinned version. Models of one
# family let GeminiLiveAliasDiverged compare an alias with its pinned versions.
# text_path: client_content (default) or realtime_input for models that reject mid-session clientContent.
# setup: optional JSON file (relative to this file) holding your production setup payload.
# probes: optional per-model list overriding probes.kinds.
models:
  - id: gemini-2.5-flash-native-audio-latest
    family: gemini-2.5-flash-native-audio
    alias: true
  - id: gemini-2.5-flash-native-audio-preview-12-2025
    family: gemini-2.5-flash-native-audio
  - id: gemini-2.5-flash-native-audio-preview-09-2025
    family: gemini-2.5-flash-native-audio
  - id: gemini-3.1-flash-live-preview
    family: gemini-3.1-flash-live
    text_path: realtime_input
    # Incident 001: about 1 fresh call in 10 ends in 1011 (clients recover by resumption). The timeline and
    # the failure-onset gauge compare this model with that rate, not with the default 1%.
    expected_failure_rate: 0.1
  # The model Google recommends today (GA since September 2026). Its setup differs (no thinkingConfig,
  # function calls NON_BLOCKING unless declared otherwise); the probe's default payload handles that.
  - id: gemini-3.8-live
    family: gemini-3.8-live

# How every model is probed. Durations: seconds, or strings like 90s, 2m, 250ms.
probes:
  kinds: [text, audio, tool]
  interval: 60s
  # Per-phase budgets; connect + setup + turn must fit in the interval.
  timeouts:
    connect: 10s
    setup: 10s
    first_response: 15s
    turn: 30s
  pace_audio: true   # send audio in real time, 100 ms chunks, like a microphone
  recover: true      # after a failed turn, try one recovery session and record it

# Per key (= per endpoint). The schedule above needs 5 models x 3 probes x 60/60 s = 15 sessions/min
# (+ up to 15 recoveries); it is refused at start if it does not fit.
budgets:
  sessions_per_minute: 30
  sessions_per_day: 40000
  max_concurrent_sessions: 4

store:
  path: data/live-monitor.sqlite3
  retention:
    success_days: 30
    failure_days: 365

# Only for `run --demo`: when the seed-replay regression begins (--demo-onset overrides it).
demo:
  onset: 3m
  latency_scale: 1.0
"""
