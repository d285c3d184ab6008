# live-monitor: the synthetic monitor for the Gemini Live API.
# Build: docker build -t live-monitor .   Run: see docker-compose.yml and docs/deployment.md.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY config/scenarios ./config/scenarios
COPY scripts/image-install.sh /usr/local/bin/image-install.sh
RUN sh /usr/local/bin/image-install.sh /src /opt/live-monitor

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin monitor \
    && install -d -o monitor -g monitor -m 0750 /var/lib/live-monitor
COPY --from=build /opt/live-monitor /opt/live-monitor
COPY config/monitor.yaml /etc/live-monitor/monitor.yaml
ENV PATH=/opt/live-monitor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIVE_MONITOR_CONFIG=/etc/live-monitor/monitor.yaml \
    LIVE_MONITOR_STORE__PATH=/var/lib/live-monitor/live-monitor.sqlite3
# The API key comes from a secret file at run time (GEMINI_API_KEY_FILE=/run/secrets/gemini_api_key, see
# docker-compose.yml), never from a build argument or a layer.
# The store lives on a volume; the root filesystem can be mounted read-only.
VOLUME ["/var/lib/live-monitor"]
USER 10001:10001
EXPOSE 9478
# The port follows LIVE_MONITOR_LISTEN when it is set (HOST:PORT), else the shipped 9478.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('LIVE_MONITOR_LISTEN', ':9478').rsplit(':', 1)[1]; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["live-monitor"]
CMD ["run"]
