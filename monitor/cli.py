"""The `live-monitor` command line: parses arguments and wires components together; no logic lives here.

Each sub-command has one `_<name>` function that returns the process exit code. Exit codes: 0 success,
1 the command ran and found failures (e.g. a probe failed), 2 bad usage or bad configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from monitor import __version__

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live-monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"live-monitor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="the monitoring daemon")
    run.add_argument(
        "-c", "--config", help="config file (default config/monitor.yaml or $LIVE_MONITOR_CONFIG)"
    )
    run.add_argument("--demo", action="store_true", help="probe the built-in emulator (seed-replay scenario)")
    run.add_argument("--listen", help="HOST:PORT of the web app (default 0.0.0.0:9478)")
    run.add_argument(
        "--demo-onset", metavar="DURATION", help="with --demo: when the regression begins, e.g. 3m, 90s, 0"
    )
    run.set_defaults(handler=_run)

    probe = commands.add_parser("probe", help="one-shot reproduction: run N probes and print a table")
    probe.add_argument("--model", required=True)
    probe.add_argument("--probe", choices=["text", "audio", "tool"], default="text")
    probe.add_argument("-n", type=int, default=1, help="number of probe turns (default 1)")
    probe.add_argument("--url", help="BidiGenerateContent URL (default: the Gemini API v1beta endpoint)")
    probe.add_argument("--json", action="store_true", help="print one JSON record per probe instead")
    probe.set_defaults(handler=_probe)

    emulator = commands.add_parser("emulator", help="the Live API emulator as a standalone server")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--scenario", default="seed-replay", help="scenario NAME or FILE")
    emulator.add_argument("--tls-self-signed", metavar="DIR", help="serve wss and write the CA to DIR")
    emulator.set_defaults(handler=_emulator)

    timeline = commands.add_parser("timeline", help="reconstruct regimes and onset intervals")
    _add_history_inputs(timeline)
    timeline.add_argument("--format", choices=["md", "json"], default="md")
    timeline.set_defaults(handler=_timeline)

    report = commands.add_parser("report", help="write the incident report")
    _add_history_inputs(report)
    report.add_argument("-o", "--output", help="Markdown file (default: stdout)")
    report.add_argument("--plot", metavar="FILE.png", help="draw the failure rate per model over time")
    report.set_defaults(handler=_report)

    check = commands.add_parser("check-config", help="validate a config file; exit 2 when invalid")
    check.add_argument("-c", "--config")
    check.set_defaults(handler=_check_config)
    return parser


def _add_history_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="only this model")
    parser.add_argument("--since", help="start time (ISO 8601 UTC, or relative like 6h)")
    parser.add_argument("--until", help="end time (ISO 8601 UTC, or relative like 1h)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--db", help="SQLite store of the daemon")
    source.add_argument("--jsonl", help="file of probe records, one JSON object per line")
    source.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")


# --- sub-commands: each owned by the issue that builds it; wiring only ---------------------------------


def _run(args: argparse.Namespace) -> int:
    from monitor.daemon import run_daemon  # noqa: PLC0415
    from monitor.log import configure_logging  # noqa: PLC0415
    from monitor.settings import ConfigError, load_settings, parse_duration, parse_listen  # noqa: PLC0415

    configure_logging()
    try:
        settings = load_settings(args.config, demo=args.demo)
        problems = [] if args.demo else settings.missing_keys()
        try:
            onset = None if args.demo_onset is None else parse_duration(args.demo_onset)
        except ValueError as error:
            problems.append(f"--demo-onset: {error}")
        try:
            listen = None if args.listen is None else parse_listen(args.listen)
        except ValueError as error:
            problems.append(f"--listen: {error}")
        if problems:
            raise ConfigError(problems)
    except ConfigError as error:
        print(f"live-monitor run: {error}", file=sys.stderr)
        return EXIT_USAGE
    return run_daemon(settings, demo=args.demo, demo_onset=onset, listen=listen)


def _probe(args: argparse.Namespace) -> int:
    raise NotImplementedError("probe")


def _emulator(args: argparse.Namespace) -> int:
    raise NotImplementedError("emulator")


def _timeline(args: argparse.Namespace) -> int:
    raise NotImplementedError("timeline")


def _report(args: argparse.Namespace) -> int:
    raise NotImplementedError("report")


def _check_config(args: argparse.Namespace) -> int:
    from monitor.settings import ConfigError, describe, load_settings, resolve_config_path  # noqa: PLC0415

    path, _ = resolve_config_path(args.config)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"{path}: {len(error.problems)} problem(s)")
        for problem in error.problems:
            print(f"  {problem}")
        return EXIT_USAGE
    print(f"{path}: OK")
    print(describe(settings))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
