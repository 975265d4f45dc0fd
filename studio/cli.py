"""The headless commands: the same engine as the window, for scripts and build pipelines.

Exit code 0 on success; on a problem the user can fix, one `error: …` line on stderr and
exit code 2 — never a traceback for bad input.  TensorFlow is imported only inside the
commands that need it, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from studio.values.autotune import OBJECTIVES
from studio.values.cluster import PLACES, RAY_INSTALL
from studio.values.cluster import missing as missing_place
from studio.values.errors import StudioError
from studio.values.processes import RUN_MODULE, run_module
from studio.values.resources import json_file

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tflite-studio",
        description="Quantize, prune and cluster Keras models for LiteRT, and measure the result.",
        epilog="Without a command it opens the window: tflite-studio [MODEL] [--data D] "
        "[--session DIR] [--workers N] [--sessions-root DIR] [--self-test] "
        "(tflite-studio MODEL --help lists them).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    opt = sub.add_parser(
        "optimize",
        help="run one recipe on a model and measure it",
        description="Run one recipe: writes model.tflite, recipe.json, "
        "metrics.json and baseline.json (the float model's figures) to --out.",
    )
    _sources(opt)
    opt.add_argument(
        "--recipe", required=True, help="recipe JSON file, or a bundled one's name (see README)"
    )
    opt.add_argument("--out", required=True, help="output folder (created if needed)")
    opt.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    opt.add_argument(
        "--threads", type=int, default=1, help="LiteRT threads for measuring (default 1)"
    )
    opt.add_argument(
        "--trust",
        action="store_true",
        help="load models with Lambda or custom layers (runs code from the file)",
    )
    opt.add_argument("--quiet", action="store_true", help="do not print progress to stderr")
    _placement(opt)

    sw = sub.add_parser(
        "sweep",
        help="run a grid of recipes and find the best trade-offs",
        description="Expand a grid (dotted recipe fields -> lists of values) into "
        "candidates, run them sharing common fine-tunes, and write one folder per "
        "candidate plus results.json (Pareto flags, recommendation) and sweep.json.",
    )
    _sources(sw)
    sw.add_argument(
        "--grid", required=True, help="grid JSON file, or a bundled one's name (see README)"
    )
    sw.add_argument("--out", required=True, help="output folder (created if needed)")
    sw.add_argument("--overwrite", action="store_true", help="replace a sweep already in --out")
    sw.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    sw.add_argument(
        "--budget",
        type=float,
        default=1.0,
        help="accepted accuracy drop for the recommendation, in top-1 points (default 1)",
    )
    sw.add_argument("--threads", type=int, default=1, help="LiteRT threads for measuring")
    sw.add_argument("--trust", action="store_true", help="trust the model file's code")
    sw.add_argument("--quiet", action="store_true", help="do not print progress to stderr")
    _placement(sw)

    at = sub.add_parser(
        "autotune",
        help="find the smallest (or fastest) model within an accuracy budget",
        description="Search pruning, clustering and quantization (per layer too) with "
        "Optuna for the best candidate within --budget, choosing on half of the "
        "evaluation samples and checking the answer on the other half. Writes one "
        'folder per trial, results.json (the answer marked "best") and autotune.json '
        "(every trial, the layer evidence used, the held-out check, and why it won).",
    )
    _sources(at)
    at.add_argument(
        "--budget",
        type=float,
        required=True,
        help="accepted loss: top-1 points; for a regressor, percent more MAE",
    )
    at.add_argument("--out", required=True, help="output folder (created if needed)")
    at.add_argument(
        "--objective", choices=tuple(OBJECTIVES), default="size", help="what to minimize"
    )
    at.add_argument("--threads", type=int, default=1, help="LiteRT threads for measuring")
    at.add_argument(
        "--time-limit",
        type=float,
        default=30.0,
        help="minutes (default 30); trials running then are cancelled, finished ones kept",
    )
    at.add_argument(
        "--seed", type=int, default=0, help="the search's seed (same seed, same trials)"
    )
    at.add_argument("--max-trials", type=int, default=40, help="the most trials (default 40)")
    at.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    at.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    at.add_argument("--trust", action="store_true", help="trust the model file's code")
    at.add_argument("--quiet", action="store_true", help="do not print progress to stderr")
    _placement(at)

    ex = sub.add_parser(
        "export-script",
        help="write a standalone Python script that reproduces a candidate",
        description="Write a commented script that reproduces the recipe on the model and "
        "data with TensorFlow, tf_keras and tfmot alone (no studio needed to run it).",
    )
    ex.add_argument("--recipe", required=True, help="recipe JSON file")
    ex.add_argument(
        "--model", required=True, help="a .keras/.h5 file, a SavedModel folder, or 'demo'"
    )
    ex.add_argument("--data", required=True, help="a .npz file or 'demo'")
    ex.add_argument("--out", required=True, help="the script to write, e.g. reproduce.py")
    ex.add_argument("--trust", action="store_true", help="trust the model file's code")

    rp = sub.add_parser(
        "report",
        help="write an HTML report and a CSV of a session or a sweep",
        description="Write a self-contained HTML report (plots, table, recipes, "
        "recommendation) and a CSV of every figure (same name, .csv).",
    )
    rp.add_argument("folder", help="a session folder or a sweep's --out folder")
    rp.add_argument("--out", required=True, help="the HTML file to write, e.g. report.html")

    ex = sub.add_parser(
        "explore",
        help="show a candidate's graph in Model Explorer, its figures on the operators",
        description="Start Google's Model Explorer on 127.0.0.1 with the candidate's "
        "model.tflite and its overlays (zeros, distinct values, weight bits per "
        "operator; with the candidate's fidelity.json its quantization SNR per operator "
        "and per layer; with its session's sensitivity.json, what pruning or clustering "
        "each layer alone costs), print the page's URL and open it; Ctrl+C stops the "
        "server.  Two folders: both, side by side.  Offline: "
        "nothing leaves this computer.  With --overlays, only write the overlay files.",
    )
    ex.add_argument(
        "candidate",
        nargs="+",
        metavar="CANDIDATE_DIR",
        help="a candidate's folder (it holds model.tflite); two: side by side",
    )
    ex.add_argument("--port", type=int, help="the server's port (default: a free one)")
    ex.add_argument("--no-browser", action="store_true", help="print the URL only")
    ex.add_argument(
        "--overlays", metavar="OUT_DIR", help="write the overlays' JSON files here and stop"
    )

    ev = sub.add_parser(
        "evaluate",
        help="measure an existing .tflite file",
        description="Measure a .tflite and print its metrics JSON to stdout.",
    )
    ev.add_argument("--tflite", required=True, help="the .tflite file to measure")
    ev.add_argument("--data", required=True, help="a .npz file, an image folder, or 'demo'")
    ev.add_argument("--baseline", help="the float Keras model, to measure agreement with it")
    ev.add_argument("--threads", type=int, default=1, help="LiteRT threads (default 1)")
    ev.add_argument("--trust", action="store_true", help="trust the baseline model file's code")
    return parser


def _sources(command: argparse.ArgumentParser) -> None:
    """The model and data options every command that runs candidates takes."""
    command.add_argument(
        "--model", required=True, help="a .keras/.h5 file, a SavedModel folder, or 'demo'"
    )
    command.add_argument("--data", required=True, help="a .npz file, an image folder, or 'demo'")


def _placement(command: argparse.ArgumentParser) -> None:
    """Where the candidates run (the options every command that runs candidates takes)."""
    command.add_argument(
        "--backend",
        choices=tuple(PLACES),
        default="local",
        help="where candidates run: worker processes here (local, default) or a Ray "
        f"cluster (ray; needs {RAY_INSTALL}, see docs/cluster.md)",
    )
    command.add_argument(
        "--address",
        help="with --backend ray: auto (this machine is a node of a running cluster, "
        "default), HOST:PORT of the head, or ray://HOST:10001 (Ray Client)",
    )


def _print_event(event) -> None:
    fraction = "" if event.fraction is None else f" {event.fraction:4.0%}"
    print(f"[{event.stage}{fraction}] {event.message}", file=sys.stderr, flush=True)


def _orchestrator(workers: int, threads: int, args: argparse.Namespace | None = None):
    """The same orchestrator as the window's, on a pool of `workers` processes; with
    `--backend ray`, candidates run on the cluster (the float baseline and the latency
    timed together stay here: one process is enough for them)."""
    from studio.orchestrator.backends import make_backend
    from studio.orchestrator.orchestrator import Orchestrator
    from studio.values.cluster import Cluster

    on_ray = args is not None and args.backend == "ray"
    if args is not None and args.address and not on_ray:
        raise StudioError("--address is the Ray cluster's: add --backend ray")
    if on_ray and (problem := missing_place("ray")):
        raise StudioError(problem)
    cluster = Cluster(address=args.address or "auto") if on_ray else None
    orchestrator = Orchestrator(make_backend(1 if on_ray else workers, idle_timeout_s=None))
    orchestrator.threads = threads
    if cluster is not None:
        if not args.quiet:
            print(f"connecting to the Ray cluster at {cluster.address} ...", file=sys.stderr)
        try:
            remote = orchestrator.connect_cluster(cluster)
        except BaseException:
            orchestrator.shutdown()
            raise
        orchestrator.use_cluster(remote)
        if not args.quiet:
            print(f"running candidates on {remote.info.describe()}", file=sys.stderr)
    return orchestrator


def _staging(out: Path) -> Path:
    """A hidden folder beside `out` where a run is made before it is renamed into place:
    a full disk or a Ctrl+C never leaves half a run in `out`, or one mixed with an
    earlier run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def _into_place(staging: Path, out: Path) -> None:
    """The whole run at `out` (an earlier one there was refused, or --overwrite given)."""
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


RUN_FILES = ("model.tflite", "baseline.json", "session.json", "results.json", "metrics.json")


def _warn_short(recipe, session) -> None:
    """Said once the data is known, before the fine-tune's results (issue 33)."""
    from studio.values.checks import short_fine_tune

    data = session.summary.data if session.summary else None
    if data is not None and (short := short_fine_tune(recipe, data.train)):
        print(f"warning: {short}", file=sys.stderr, flush=True)


def _check_sources(args: argparse.Namespace) -> None:
    """What can be checked before any worker loads TensorFlow: the model and data exist
    and --out is not a file (that used to be said after ~10 s of loading)."""
    from studio.values.resources import DEMO

    for what, path in (("--model", args.model), ("--data", args.data)):
        if path != DEMO and not Path(path).exists():
            raise StudioError(f"{what} {path} does not exist")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise StudioError(f"--out {out} is a file; give a folder (it is created if needed)")
    earlier = [name for name in RUN_FILES if (out / name).exists()] if out.is_dir() else []
    if earlier and not args.overwrite:
        raise StudioError(
            f"--out {out} holds another run ({', '.join(earlier)}); choose another folder, "
            f"or add --overwrite to replace it"
        )
    if out.is_dir() and any(out.iterdir()) and not earlier and not args.overwrite:
        raise StudioError(
            f"--out {out} is a folder with other files in it; choose a new or empty folder, "
            f"or add --overwrite to replace its content"
        )


def _optimize(args: argparse.Namespace) -> int:
    from studio.values import atomic, units
    from studio.values.recipe import Recipe
    from studio.values.session import OPTIONAL_FILES, RESULT_FILES, Session

    recipe = Recipe.load(json_file(args.recipe))  # validated before any worker starts
    _check_sources(args)
    out = Path(args.out)
    orchestrator = _orchestrator(1, args.threads, args)
    staging = _staging(out)  # the session; the result is assembled beside it
    if not args.quiet:
        orchestrator.job_progress.connect(lambda _label, event: _print_event(event))
    try:
        session = Session.create(args.model, args.data, folder=staging, trust=args.trust)
        baseline = orchestrator.start(session)
        run = orchestrator.run(recipe)
        baseline.add_done_callback(lambda _: _warn_short(recipe, session))
        orchestrator.wait(baseline, run)
        baseline.result()  # raises what stopped the float baseline
        candidate = session.candidates[run.candidate_ids[0]]
        if candidate.status != "done":
            raise StudioError(candidate.message or f"the candidate {candidate.status}")
        folder, base = session.candidate_dir(candidate.id), session.baseline_dir
        result = _staging(out)
        files = {result / name: (folder / name).read_bytes() for name in RESULT_FILES}
        files |= {
            result / name: (folder / name).read_bytes()
            for name in OPTIONAL_FILES
            if (folder / name).is_file()
        }
        files |= {result / name: (base / name).read_bytes() for name in BASELINE_FILES}
        try:
            atomic.write_all(files)
            _into_place(result, out)
        finally:
            shutil.rmtree(result, ignore_errors=True)
    finally:
        orchestrator.shutdown()
        shutil.rmtree(staging, ignore_errors=True)
    m, b = candidate.metrics, session.baseline
    acc = "n/a" if m.accuracy is None else f"{m.accuracy:.4f}"
    base_acc = "n/a" if b.accuracy is None else f"{b.accuracy:.4f}"
    print(
        f"{recipe.describe()}: {m.size_bytes} bytes ({m.gzip_bytes} gzipped, "
        f"{b.gzip_bytes / m.gzip_bytes:.1f}x smaller than float), {m.metric} {acc} "
        f"(float {base_acc}), latency {m.latency_ms.median:.3f} ms on {m.latency_ms.threads} "
        f"thread(s) -> {out}"
    )
    for note in units.speed_notes(m):
        print(f"  {note}")
    return 0


BASELINE_FILES = ("baseline.tflite", "baseline.json")


def _sweep(args: argparse.Namespace) -> int:
    from studio.values.grid import Grid
    from studio.values.results import from_session
    from studio.values.session import Session
    from studio.values.sweep import plan, sharing, write_results

    if args.jobs < 1:
        raise StudioError("--jobs must be 1 or more")
    grid = Grid.load(json_file(args.grid))  # validated before any worker starts
    _check_sources(args)
    groups = plan(grid)
    shared = sharing(groups)["fine_tunes"]
    say = _say(args.quiet)
    say(
        f"{grid.size} candidates in {len(groups)} group(s): {shared['run']} fine-tune(s) "
        f"instead of {shared['one_by_one']}, 1 baseline instead of {grid.size}"
    )
    out = Path(args.out)
    started = time.perf_counter()
    orchestrator = _orchestrator(min(args.jobs, len(groups)), args.threads, args)
    staging = _staging(out)  # the sweep is renamed into place once it is whole
    whole, session = False, None
    _follow(orchestrator, lambda: session, say)
    try:
        # The sweep's folder is a session too: the window can open it.
        session = Session.create(
            args.model, args.data, folder=staging, trust=args.trust, baseline_folder=""
        )
        session.set_budget(args.budget)
        baseline = orchestrator.start(session)
        run = orchestrator.run_sweep(grid, grid_names=True)
        orchestrator.wait(baseline, run)
        baseline.result()  # raises what stopped the float baseline
        summary = write_results(
            staging,
            from_session(session),
            session.baseline,
            budget=args.budget,
            groups=groups,
            seconds=time.perf_counter() - started,
        )
        _into_place(staging, out)
        whole = True
    finally:
        orchestrator.shutdown()
        _keep_partial(staging, session, whole, "sweep")
    chosen = summary["recommended"]
    print(
        f"{grid.size} candidates ({len(summary['failed'])} failed) in "
        f"{summary['seconds']:.0f} s; within {args.budget:g} point(s) of float: smallest "
        f"{chosen['smallest'] or 'none'}, fastest {chosen['fastest'] or 'none'} -> "
        f"{out / 'results.json'}"
    )
    return 0


def _say(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr, or nothing with --quiet."""
    return (lambda _: None) if quiet else (lambda text: print(text, file=sys.stderr, flush=True))


def _follow(orchestrator, session_of, say: Callable[[str], None], after=lambda: "") -> None:
    """Say each job's progress and each candidate's end (once), for sweep and autotune;
    `after` adds to the end line (how far a search is)."""
    orchestrator.job_progress.connect(
        lambda label, event: event.message and say(f"[{label}] {event.message}")
    )
    told: set[int] = set()

    def ended(cid: int) -> None:
        c = session_of().candidates[cid]
        if c.status not in ("queued", "running") and cid not in told:
            told.add(cid)
            detail = f"failed: {c.message}" if c.status == "failed" else c.status
            say(f"{c.name}: {detail}{after()}")

    orchestrator.candidate_changed.connect(ended)


def _keep_partial(staging: Path, session, whole: bool, what: str) -> None:
    """A run that did not finish: its measured candidates are kept in the staging
    folder (a session the window opens), never mixed with an earlier run; else gone."""
    if whole:
        return
    if session and any(c.metrics for c in session.candidates.values()):
        print(
            f"partial {what} kept in {staging} (tflite-studio --session {staging} opens it)",
            file=sys.stderr,
        )
    else:
        shutil.rmtree(staging, ignore_errors=True)


def _autotune(args: argparse.Namespace) -> int:
    from studio.orchestrator.autotune import Search
    from studio.values.autotune import Settings, explain
    from studio.values.results import from_session
    from studio.values.sweep import write_autotune_results

    if args.jobs < 1:
        raise StudioError("--jobs must be 1 or more")
    try:
        settings = Settings(
            objective=args.objective,
            budget=args.budget,
            time_limit_s=args.time_limit * 60,
            seed=args.seed,
            max_trials=args.max_trials,
            trial_names=True,
        )
    except ValueError as err:
        raise StudioError(str(err)) from err
    _check_sources(args)
    say = _say(args.quiet)
    out = Path(args.out)
    orchestrator = _orchestrator(args.jobs, args.threads, args)
    staging = _staging(out)
    search = Search(orchestrator, settings)
    _follow(orchestrator, lambda: search.session, say, lambda: f" ({search.status()})")
    whole = False
    try:
        handle = search.start(args.model, args.data, trust=args.trust, folder=staging)
        orchestrator.wait(handle)
        report = handle.result()  # raises what stopped the float baseline
        session = search.session
        write_autotune_results(staging, from_session(session), session.baseline, report)
        _into_place(staging, out)
        whole = True
    finally:
        orchestrator.shutdown()
        _keep_partial(staging, search.session, whole, "search")
    for line in explain(report):
        print(line)
    if report.winner is None:
        print(f"answer: the float model, {out / 'baseline.tflite'}")
    else:
        print(f"answer: {out / report.winner / 'model.tflite'} ({out / 'autotune.json'})")
    return 0


def _export_script(args: argparse.Namespace) -> int:
    from studio.values import atomic
    from studio.values.recipe import Recipe

    recipe = Recipe.load(json_file(args.recipe))
    from studio.engine.codegen import script_for

    path = atomic.write_text(args.out, script_for(args.model, args.data, recipe, trust=args.trust))
    print(f"wrote {path}: reproduces {recipe.describe()}; run it with: python {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from studio.values.report import write

    html_path, csv_path = write(args.folder, args.out)
    print(f"wrote {html_path} and {csv_path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from studio.engine.pipeline import evaluate

    metrics = evaluate(
        args.tflite, args.data, baseline_model=args.baseline, threads=args.threads, trust=args.trust
    )
    print(json.dumps(metrics.to_dict(), indent=2))
    return 0


def _explore(args: argparse.Namespace) -> int:
    from studio.jobs import explorer

    folders = [Path(c) for c in args.candidate]
    if len(folders) > 2:
        print("error: give one candidate's folder, or two to see side by side", file=sys.stderr)
        return EXIT_USER_ERROR
    models = [f / "model.tflite" for f in folders]
    for model in models:
        if not model.is_file():
            print(
                f"error: {model} does not exist; give a candidate's folder (a session's "
                f"c001-…, or optimize's --out)",
                file=sys.stderr,
            )
            return EXIT_USER_ERROR
    # Two are told apart by file name and graph id (studio.jobs.explorer.page).
    names = [f.resolve().name for f in folders]
    graphs = [""] if len(folders) == 1 else names if names[0] != names[1] else ["a", "b"]
    if args.overlays:
        for model, graph in zip(models, graphs, strict=True):
            for path in explorer.prepare(model, Path(args.overlays) / graph, graph)[1]:
                print(f"wrote {path}")
        return 0
    if why := explorer.missing():
        print(f"error: {why}", file=sys.stderr)
        return EXIT_USER_ERROR
    server = explorer.Explorer(args.port)
    with tempfile.TemporaryDirectory(prefix="studio-overlays-") as tmp:
        shown = [
            explorer.prepare(model, Path(tmp) / graph, graph)
            for model, graph in zip(models, graphs, strict=True)
        ]
        url = server.show(shown)
        print(f"Model Explorer: {url}\nPress Ctrl+C to stop.", flush=True)
        if not args.no_browser:
            import webbrowser

            webbrowser.open_new_tab(url)
        try:
            while server.running:
                time.sleep(0.5)
            print("error: Model Explorer's server ended", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("stopping Model Explorer", file=sys.stderr)
            return 0
        finally:
            server.stop()


COMMANDS = ("optimize", "sweep", "autotune", "evaluate", "export-script", "report", "explore")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [RUN_MODULE] and len(argv) >= 2:  # a helper process (see processes.py)
        return run_module(argv[1], argv[2:])
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        from studio.ui.app import main as window

        return window(argv)
    args = _parser().parse_args(argv)
    if getattr(args, "threads", 1) < 1:
        print("error: --threads must be 1 or more", file=sys.stderr)
        return EXIT_USER_ERROR
    command = {
        "optimize": _optimize,
        "sweep": _sweep,
        "autotune": _autotune,
        "evaluate": _evaluate,
        "export-script": _export_script,
        "report": _report,
        "explore": _explore,
    }[args.command]
    try:
        return command(args)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: cancelled", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            "error: out of memory; try fewer calibration samples or a smaller batch size",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
