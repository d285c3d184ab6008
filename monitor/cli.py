"""The `live-monitor` command line: parses arguments and wires components together; no logic lives here.

Each sub-command has one `_<name>` function that returns the process exit code. Exit codes: 0 success,
1 the command ran and found failures (e.g. a probe failed), 2 bad usage or bad configuration, 141 stdout's
reader went away (`... | head`; no traceback, as for any Unix tool ended by SIGPIPE).
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from monitor import __version__

if TYPE_CHECKING:
    from monitor.analysis.history import History
    from monitor.analysis.timeline import SeriesTimeline
    from monitor.config.settings import MonitorSettings
    from monitor.emulator import RunningEmulator
    from monitor.probe.target import ProbeTarget

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
# What a shell reports for a tool that SIGPIPE ended (128 + 13), e.g. `yes | head -1`: the reader went away.
EXIT_BROKEN_PIPE = 141


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
    probe.add_argument(
        "--auth", choices=["header", "query", "token", "bearer"], default="header",
        help="how GEMINI_API_KEY travels (default: the x-goog-api-key header); token: an API key mints one "
        "ephemeral token per probe (an auth_tokens/... value is used as it is)",
    )  # fmt: skip
    probe.add_argument("--setup", metavar="FILE", help="your setup JSON; only the model is replaced")
    probe.add_argument(
        "--text-path", choices=["client_content", "realtime_input"], default="client_content",
        help="send the text turn as clientContent (default) or realtimeInput.text",
    )  # fmt: skip
    probe.add_argument("--no-pace", action="store_true", help="send audio chunks as fast as possible")
    probe.set_defaults(handler=_probe)

    emulator = commands.add_parser("emulator", help="the Live API emulator as a standalone server")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--scenario", default="seed-replay", help="scenario NAME or FILE")
    emulator.add_argument("--tls-self-signed", metavar="DIR", help="serve wss and write the CA to DIR")
    emulator.add_argument("--seed", type=int, help="seed of the fault and latency dice (default: random)")
    emulator.add_argument("--onset", type=float, help="seconds after start when 'onset' windows open")
    emulator.add_argument(
        "--latency-scale", type=float, default=1.0, help="multiply every emulated latency (0: no waiting)"
    )
    emulator.add_argument(
        "--service-account-key",
        metavar="FILE",
        help="write a service-account key file (token_uri: this emulator) for auth: bearer rehearsals",
    )
    emulator.set_defaults(handler=_emulator)

    timeline = commands.add_parser("timeline", help="reconstruct regimes and onset intervals")
    _add_history_inputs(timeline)
    timeline.add_argument("--format", choices=["md", "json"], default="md")
    timeline.add_argument("--step", type=float, help="Prometheus step in seconds (default: 60 or span/11000)")
    timeline.add_argument("-c", "--config", help="monitor config: families, aliases, expected failure rates")
    timeline.set_defaults(handler=_timeline)

    report = commands.add_parser("report", help="write the incident report")
    _add_history_inputs(report)
    report.add_argument("-o", "--output", help="Markdown file (default: stdout)")
    report.add_argument("--plot", metavar="FILE.png", help="draw the failure rate per model over time")
    report.add_argument("--step", type=float, help="Prometheus step in seconds (default: 60 or span/11000)")
    report.add_argument("-c", "--config", help="monitor config: URL, auth, setup payload, quotas")
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
    parser.add_argument(
        "--baseline",
        type=_rate,
        metavar="RATE",
        help="expected failure rate of a healthy model when its history does not say (default: the model's "
        "expected_failure_rate from -c, else 0.01)",
    )


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 0.5:
        raise argparse.ArgumentTypeError(f"{text} is not a failure rate in [0, 0.5), e.g. 0.01")
    return value


def _timelines(
    history: History, settings: MonitorSettings | None, baseline: float | None
) -> list[SeriesTimeline]:
    """Every series' timeline with its prior: own history, else pinned siblings, else the baseline."""
    from monitor.analysis.prior import DEFAULT_BASELINE, choose_priors  # noqa: PLC0415
    from monitor.analysis.timeline import build_timeline  # noqa: PLC0415

    models = settings.models if settings else []
    priors = choose_priors(
        history.series,
        history=history.priors,
        families={m.id: (m.family, m.alias) for m in models},
        baseline=_expected_rates(settings, baseline),
        default_baseline=DEFAULT_BASELINE if baseline is None else baseline,
    )
    return [build_timeline(s, prior=priors[(s.model, s.probe)]) for s in history.series]


def _expected_rates(settings: MonitorSettings | None, baseline: float | None) -> dict[str, float]:
    """Each configured model's expected failure rate, unless `--baseline` sets one rate for all."""
    if settings is None or baseline is not None:
        return {}
    return {m.id: m.expected_failure_rate for m in settings.models}


# --- sub-commands: each owned by the issue that builds it; wiring only ---------------------------------


def _run(args: argparse.Namespace) -> int:
    from monitor.config.settings import ConfigError, load_settings, parse_duration, parse_listen  # noqa: PLC0415
    from monitor.log import configure_logging  # noqa: PLC0415
    from monitor.service import run_daemon  # noqa: PLC0415

    configure_logging()
    try:
        settings = load_settings(args.config, demo=args.demo)
        problems = settings.store_problems() + ([] if args.demo else settings.missing_keys())
        try:
            onset = None if args.demo_onset is None else parse_duration(args.demo_onset)
        except ValueError as error:
            problems.append(f"--demo-onset: {error}")
        if args.demo_onset is not None and settings.demo.emulator_url is not None:
            problems.append("--demo-onset: no effect with demo.emulator_url (its emulator's --onset decides)")
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


def _minting(target: ProbeTarget, *, explicit_url: bool) -> tuple[ProbeTarget, str]:
    """`--auth token` with an API key: mint one ephemeral token per probe, as a browser's backend does."""
    from dataclasses import replace  # noqa: PLC0415

    from monitor.probe.ephemeral import EphemeralTokens, TokenOptions, token_service_url  # noqa: PLC0415

    key = target.api_key.get_secret_value()
    if key.startswith("auth_tokens/"):
        return target, ""  # a token minted elsewhere, used as it is
    url = target.url
    if ".v1alpha." not in url:
        if explicit_url:
            return (
                target,
                "--auth token: ephemeral tokens are served by v1alpha only (...v1alpha...Constrained)",
            )
        url = url.replace(".v1beta.", ".v1alpha.")
    tokens = EphemeralTokens(key, TokenOptions(service_url=token_service_url(url)))
    return replace(target, url=url, credentials=tokens), ""


def _probe(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415 - sub-command imports stay local (shared-file rule)
    import os  # noqa: PLC0415

    from monitor import eventloop  # noqa: PLC0415
    from monitor.probe.oneshot import (  # noqa: PLC0415
        TargetError,
        build_target,
        format_table,
        key_hint,
        load_setup,
        run_probes,
    )
    from monitor.probe.outcome import ProbeKind  # noqa: PLC0415
    from monitor.probe.record import ProbeResult  # noqa: PLC0415

    if args.n < 1:
        print("live-monitor probe: -n must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        target = build_target(
            model=args.model,
            url=args.url,
            # The settings module will own the environment; until then the probe command reads its one key.
            key=os.environ.get("GEMINI_API_KEY", ""),
            auth=args.auth,
            text_path=args.text_path,
            setup=load_setup(args.setup) if args.setup else None,
            pace_audio=not args.no_pace,
        )
    except TargetError as exc:
        print(f"live-monitor probe: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.auth == "token" and target.api_key.get_secret_value():
        target, problem = _minting(target, explicit_url=args.url is not None)
        if problem:
            print(f"live-monitor probe: {problem}", file=sys.stderr)
            return EXIT_USAGE
    hint = key_hint(args.url, target.api_key.get_secret_value(), args.model)
    if hint:
        print(f"live-monitor probe: warning: {hint}", file=sys.stderr)

    def emit(result: ProbeResult) -> None:
        if args.json:
            print(json.dumps(result.to_record()), flush=True)

    results = eventloop.run(run_probes(target, ProbeKind(args.probe), args.n, on_result=emit))
    if not args.json:
        print(format_table(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILURES


def _write_key_file(path: str, running: RunningEmulator) -> None:
    """A key file only this emulator accepts, readable by its owner alone (it holds a private key)."""
    import json  # noqa: PLC0415
    import os  # noqa: PLC0415

    assert running.state is not None
    info = running.state.oauth.new_service_account(token_uri=running.http_url + "/token")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(info, file, indent=2)


def _emulator(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 - sub-command imports stay inside their function (shared file)
    import signal  # noqa: PLC0415

    from monitor import eventloop  # noqa: PLC0415
    from monitor.emulator import ScenarioError, load_scenario, start_emulator  # noqa: PLC0415
    from monitor.emulator.server import emulator_urls  # noqa: PLC0415

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"live-monitor emulator: {error}", file=sys.stderr)
        return EXIT_USAGE

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with start_emulator(
            scenario,
            host=args.host,
            port=args.port,
            tls_dir=args.tls_self_signed,
            seed=args.seed,
            onset_seconds=args.onset,
            latency_scale=args.latency_scale,
        ) as running:
            print(f"Live API emulator, scenario {scenario.name!r}, listening on {running.base_url}")
            for label, url in emulator_urls(running):
                print(f"  {label:<28} {url}")
            if running.ca_file:
                print(f"  CA certificate               {running.ca_file}")
            if args.service_account_key and running.state is not None:
                _write_key_file(args.service_account_key, running)
                print(f"  Service-account key          {args.service_account_key}")
            print(
                "Any non-empty API key is accepted unless the scenario lists accepted_keys; bearer and "
                "ephemeral tokens must be issued here. Ctrl-C stops."
            )
            sys.stdout.flush()
            await stop.wait()

    try:
        eventloop.run(serve())
    except BrokenPipeError:
        raise  # stdout closed under us: main() ends quietly (an OSError, but not a listen problem)
    except OSError as error:
        print(f"live-monitor emulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _timeline(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    from monitor.analysis.export import timeline_json  # noqa: PLC0415
    from monitor.analysis.history import HistoryError, gather  # noqa: PLC0415
    from monitor.analysis.prior import DEFAULT_BASELINE  # noqa: PLC0415
    from monitor.analysis.report import render_timeline  # noqa: PLC0415
    from monitor.analysis.timeline import cross_model  # noqa: PLC0415
    from monitor.config.settings import ConfigError, load_settings  # noqa: PLC0415
    from monitor.probe.record import format_utc  # noqa: PLC0415

    try:
        settings = load_settings(args.config) if args.config else None
    except ConfigError as error:
        print(f"live-monitor timeline: -c {args.config}: {'; '.join(error.problems)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        history = gather(
            db=args.db, jsonl=args.jsonl, prometheus=args.prometheus, model=args.model,
            since=args.since, until=args.until, step=args.step, now=datetime.now(UTC),
            baseline=DEFAULT_BASELINE if args.baseline is None else args.baseline,
            expected=_expected_rates(settings, args.baseline),
        )  # fmt: skip
    except HistoryError as error:
        print(f"live-monitor timeline: {error}", file=sys.stderr)
        return EXIT_USAGE
    timelines = _timelines(history, settings, args.baseline)
    co_changes = cross_model(timelines, history.series)
    made = datetime.now(UTC)
    if args.format == "json":
        document = timeline_json(timelines, co_changes, history.series, window=(history.start, history.end))
        print(json.dumps({"source": history.source, "generated": format_utc(made), **document}, indent=2))
    else:
        window = (history.start, history.end)
        print(
            render_timeline(
                timelines, co_changes, history.series, source=history.source, window=window, made=made
            )
        )
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from monitor.analysis.context import build_context  # noqa: PLC0415
    from monitor.analysis.history import HistoryError, gather  # noqa: PLC0415
    from monitor.analysis.plot import write_plot  # noqa: PLC0415
    from monitor.analysis.prior import DEFAULT_BASELINE  # noqa: PLC0415
    from monitor.analysis.report import render_report, write_atomically  # noqa: PLC0415
    from monitor.analysis.timeline import cross_model  # noqa: PLC0415
    from monitor.config.settings import ConfigError, load_settings  # noqa: PLC0415

    outputs = (("--output", args.output), ("--plot", args.plot))
    for option, path in outputs:
        if path and not Path(path).resolve().parent.is_dir():
            print(f"live-monitor report: {option} {path}: no such directory", file=sys.stderr)
            return EXIT_USAGE
    # Renaming the report over its own input would replace the store with it: refuse before reading.
    taken = [(option, path) for option, path in (("--db", args.db), ("--jsonl", args.jsonl)) if path]
    for option, path in outputs:
        clash = next((f"{o} {p}" for o, p in taken if path and _same_file(path, p)), None)
        if clash is not None:
            print(f"live-monitor report: {option} {path} is the file of {clash}", file=sys.stderr)
            return EXIT_USAGE
        if path:
            taken.append((option, path))
    try:
        settings = load_settings(args.config) if args.config else None
    except ConfigError as error:
        print(f"live-monitor report: -c {args.config}: {'; '.join(error.problems)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        history = gather(
            db=args.db, jsonl=args.jsonl, prometheus=args.prometheus, model=args.model,
            since=args.since, until=args.until, step=args.step, now=datetime.now(UTC),
            baseline=DEFAULT_BASELINE if args.baseline is None else args.baseline,
            expected=_expected_rates(settings, args.baseline),
        )  # fmt: skip
    except HistoryError as error:
        print(f"live-monitor report: {error}", file=sys.stderr)
        return EXIT_USAGE
    timelines = _timelines(history, settings, args.baseline)
    co_changes = cross_model(timelines, history.series)
    try:  # the report reads the records it shows now: one of them may be damaged
        context = build_context(
            source=history.source, records=history.records, series=history.series, co_changes=co_changes,
            settings=settings, window=(history.start, history.end), made=datetime.now(UTC),
        )  # fmt: skip
    except HistoryError as error:
        print(f"live-monitor report: {error}", file=sys.stderr)
        return EXIT_USAGE
    text = render_report(timelines, co_changes, history.series, context)
    try:
        if args.plot:
            write_plot(args.plot, timelines, history.series, made=context.made)
        if args.output:
            write_atomically(args.output, lambda temp: temp.write_text(text, encoding="utf-8"))
    except OSError as error:
        print(f"live-monitor report: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if not args.output:
        print(text)
    return EXIT_OK


def _same_file(one: str, other: str) -> bool:
    """Whether two paths name one file (through links too), or would once written."""
    import os  # noqa: PLC0415

    try:
        return os.path.samefile(one, other)
    except OSError:
        return os.path.realpath(one) == os.path.realpath(other)


def _check_config(args: argparse.Namespace) -> int:
    from monitor.config.settings import ConfigError, describe, load_settings, resolve_config_path  # noqa: PLC0415

    path, _ = resolve_config_path(args.config)
    try:
        settings = load_settings(args.config)
        # Where `run` would keep its store must be usable here (a read-only root, a missing mount).
        if settings.store_problems():
            raise ConfigError(settings.store_problems())
    except ConfigError as error:
        print(f"{path}: {len(error.problems)} problem(s)")
        for problem in error.problems:
            print(f"  {problem}")
        return EXIT_USAGE
    print(f"{path}: OK")
    print(describe(settings))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A reader that closes stdout early (`timeline ... | head`) ends it quietly; a store
    that cannot be read is one line on stderr and exit 2."""
    from monitor.store.schema import StoreError  # noqa: PLC0415 - sub-command imports stay local (shared file)

    try:
        try:
            args = _build_parser().parse_args(argv)
            handler: Callable[[argparse.Namespace], int] = args.handler
            try:
                return handler(args)
            except StoreError as error:
                # A store that opened but cannot be read (damaged pages, a lock past its timeout): one line
                # naming the file, as for every other bad input, never a traceback.
                print(f"live-monitor {args.command}: {error}", file=sys.stderr)
                return EXIT_USAGE
        finally:
            # Flush here, where the except below sees a closed pipe, not at interpreter exit, where it could
            # only be reported as "Exception ignored ... BrokenPipeError".
            sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:
        if error.errno not in _WRITE_FAILURES:
            raise
        # `> /dev/full`, a full disk or quota under the output: say so in one line, as for bad input.
        _discard_stdout()
        print(f"live-monitor: cannot write the output: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE


# What writing the output can fail with, besides a closed pipe.
_WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _discard_stdout() -> None:
    """Point stdout at /dev/null so what is still buffered cannot fail again when Python exits."""
    import os  # noqa: PLC0415

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass  # stdout is not a file descriptor (an embedding caller's stream): nothing left to protect


if __name__ == "__main__":
    sys.exit(main())
