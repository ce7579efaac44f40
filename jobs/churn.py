"""The command line behind ``python -m jobs.churn train|score|ensure|refresh|report``, and
the background training the churn page starts (:func:`start_background_training`)."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from jobs.churn_pipeline import EXPLAIN_TOP, score_latest, scoring_month, train_churn_model
from analytics.churn.retention import GROUP_FADING, filter_retention
from data_access.store import churn as store
from data_access.store import churn_scores as scores_store
from data_access.db import PROJECT_ROOT, ConcertoError, create_mart_engine
from data_access.mart.queries import available_months
from analytics.churn import model as churn
from data_access.store.arsenal import ASSET, read_catalogue
from data_access.store.scope import acting_principal, as_system
from data_access.store.workflow import create_workflow_engine

#: Training rows for ``ensure`` (the demo's first start): enough for a sound model, quick.
ENSURE_ROWS = 60_000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.churn",
        description="Churn prediction: train the model, score the latest month, report.",
        epilog=churn.__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--mart", default=None,
                        help="mart URL (default: CONCERTO_MART_URL, secrets, or the embedded file)")
    common.add_argument("--model-dir", default=None,
                        help=f"where models are kept (default {store.MODEL_DIR})")
    common.add_argument("--workflow", default=None,
                        help="workflow store URL, where scores, group warnings, alerts and "
                             "training progress go (default: CONCERTO_WORKFLOW_URL, secrets, "
                             "or the embedded file)")
    train = commands.add_parser("train", parents=[common], help="fit, evaluate, save, go live")
    train.add_argument("--horizon", type=int, default=1,
                       help="label: churned within this many months after the snapshot (1)")
    train.add_argument("--train-months", type=int, default=6, help="training snapshots (6)")
    train.add_argument("--test-months", type=int, default=1, help="test snapshots (1)")
    train.add_argument("--max-rows", type=int, default=1_000_000,
                       help="sample the training snapshots down to about this many rows")
    train.add_argument("--seed", type=int, default=0, help="random seed (0)")
    train.add_argument("--no-baselines", action="store_true",
                       help="skip fitting the two baselines for the comparison")
    score = commands.add_parser("score", parents=[common],
                                help="score the latest month with the live model")
    score.add_argument("--version", default=None, help="model version (default: the live one)")
    score.add_argument("--month", default=None, help="month to score, YYYY-MM (default: latest)")
    score.add_argument("--alerts", action="store_true",
                       help="raise the group warnings as alerts in the workflow store")
    score.add_argument("--fading", type=float, default=GROUP_FADING,
                       help="warn a leased-line group whose members' usage (minutes and data) "
                            f"fell by this share over three months (default {GROUP_FADING})")
    score.add_argument("--csv", default=None, help="also export the retention list to this CSV")
    for name in ("branch", "micro-region", "segment"):
        score.add_argument(f"--{name}", default=None, help=f"narrow the CSV to one {name}")
    score.add_argument("--group", type=int, default=None, help="narrow the CSV to one group id")
    ensure = commands.add_parser(
        "ensure", parents=[common],
        help="train a model if none is live, score the latest month if it has no scores yet")
    ensure.add_argument("--max-rows", type=int, default=ENSURE_ROWS,
                        help=f"training rows when a model is trained ({ENSURE_ROWS:,})")
    refresh = commands.add_parser(
        "refresh", parents=[common],
        help="train a model, then score the latest month (what the page starts in the "
             "background; --job reports progress to that training record)")
    refresh.add_argument("--job", type=int, default=None, help="training record to report to")
    refresh.add_argument("--max-rows", type=int, default=1_000_000,
                         help="sample the training snapshots down to about this many rows")
    report = commands.add_parser("report", parents=[common], help="print the live model's card")
    report.add_argument("--version", default=None, help="model version (default: the live one)")
    return parser


_STARTED = time.perf_counter()


def _say(message: str) -> None:
    print(f"  [{time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def _train(args: argparse.Namespace, progress=_say) -> str:
    engine = create_mart_engine(args.mart, read_only=True)
    started = time.perf_counter()
    trained = train_churn_model(engine, horizon=args.horizon, train_months=args.train_months,
                                test_months=args.test_months, max_rows=args.max_rows,
                                random_state=args.seed, compare=not args.no_baselines,
                                progress=progress)
    version = store.save_model(trained.model, trained.manifest, model_dir=args.model_dir)
    print(f"Trained churn model {version} in {time.perf_counter() - started:.0f}s; it is live.")
    _print_card(store.load_manifest(version, model_dir=args.model_dir))
    return version


def _tactics(workflow) -> pd.DataFrame | None:
    """The arsenal's tactics: the workflow store's when it holds any, else the starter file."""
    tactics = store.load_tactics(workflow)
    return tactics if not tactics.empty else read_catalogue(ASSET)


@contextlib.contextmanager
def _plain_main() -> Iterator[None]:
    """While a process is spawned: an empty ``__main__``. A spawned process runs its parent's
    main script again before it does anything; this job's is heavy (scikit-learn) and, where
    a Streamlit script ran in this process (the app's tests), a page that fails outside the
    app. The writer needs neither: it imports only what it is given to run."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def score_and_write(engine, workflow, model, manifest: dict, month: pd.Timestamp,
                    tactics: pd.DataFrame | None, *, fading: float = GROUP_FADING,
                    explain_top: int = EXPLAIN_TOP, progress=_say) -> tuple[
                        pd.Timestamp, pd.DataFrame, pd.DataFrame, scores_store.ScoreRun]:
    """Score ``month`` and write the run. The rows that get no reasons (most of them), then
    the explained rows below the ones given a tactic (a part at a time), are written by a
    second process while this one works out the next part's reasons, so the job uses both
    cores (a thread would share one interpreter lock with the reasons); the run is complete
    only when every row is in, and deleted again if anything fails. The writer makes room
    for it (the oldest kept run goes) after the first rows, while the reasons are worked
    out: during the features it would take a core from the database's threads."""
    who = acting_principal("save churn scores")
    url = workflow.url.render_as_string(hide_password=False)
    handed: list[Future] = []
    ids: list[pd.Series] = []
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with database threads
    with (scores_store.open_score_run(workflow, manifest["version"], f"{month:%Y-%m}")
          as run_id):

        def hand(task, *args) -> None:
            with _plain_main():  # the writer process may start here
                handed.append(writer.submit(task, *args))

        def settled(rows: pd.DataFrame) -> None:
            ids.append(rows["subscriber_id"])
            which = "without reasons" if len(ids) == 1 else "with reasons, below the tactics"
            progress(f"writing {len(rows):,} scores {which} meanwhile")
            hand(scores_store.add_scores_in, url, run_id, rows, who)
            if len(ids) == 1:
                hand(scores_store.make_room_in, url, who)

        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as writer:
            hand(scores_store.warm_writer)  # starts it (and its imports) while features load
            try:
                month, scores, warnings = score_latest(
                    engine, model, manifest, month, tactics, fading=fading,
                    explain_top=explain_top, progress=progress, settled=settled)
                if not ids:  # every row got reasons: nothing was handed over meanwhile
                    hand(scores_store.make_room_in, url, who)
            finally:
                done = [future.result() or 0 for future in handed]  # a failure is raised here
        rest = scores[~scores["subscriber_id"].isin(pd.concat(ids))] if ids else scores
        progress(f"writing the other {len(rest):,} scores ({sum(done):,} written meanwhile)")
        scores_store.add_scores(workflow, run_id, rest)
        return month, scores, warnings, scores_store.finish_score_run(workflow, run_id, scores,
                                                                      warnings)


def _score(args: argparse.Namespace, progress=_say) -> None:
    model, manifest = store.load_model(args.version, model_dir=args.model_dir)
    engine = create_mart_engine(args.mart, read_only=True)
    workflow = create_workflow_engine(args.workflow, bulk=True)
    started = time.perf_counter()
    month = scoring_month(engine, args.month)
    label = f"{month:%Y-%m}"
    month, scores, warnings, run = score_and_write(
        engine, workflow, model, manifest, month, _tactics(workflow), fading=args.fading,
        progress=progress)
    print(f"Scored {len(scores):,} subscribers of {label} with {manifest['version']} and "
          f"wrote them as run {run.run_id} in {time.perf_counter() - started:.1f}s")
    print(scores.head(10)[["rank", "subscriber_id", "micro_region", "churn_prob", "net_value",
                           "expected_loss", "top_reason"]].to_string(index=False))
    print(f"{len(warnings)} enterprise group warning(s).")
    for message in warnings["message"].head(5):
        print(f"  - {message}")
    if args.alerts:
        raised = store.raise_group_alerts(workflow, warnings, label)
        print(f"{raised} new group alert(s) raised for the account managers.")
    if args.csv:
        chosen = filter_retention(scores, {"branch": args.branch,
                                           "micro_region": args.micro_region,
                                           "segment": args.segment, "group_id": args.group})
        chosen.to_csv(args.csv, index=False)
        print(f"Exported {len(chosen):,} row(s) to {args.csv}")


def _ensure(args: argparse.Namespace) -> None:
    """What ``make run`` needs so the churn page has content on first open: a live model and
    the latest month's scores. Each step runs only when its result is missing."""
    if store.live_version(model_dir=args.model_dir) is None:
        _say("no churn model is live: training one (once; later runs reuse it)")
        _train(argparse.Namespace(**vars(args), horizon=1, train_months=6, test_months=1,
                                  seed=0, no_baselines=False))
    latest = available_months(create_mart_engine(args.mart, read_only=True))
    if not latest:
        raise ConcertoError("The mart has no months: build or load it first.")
    label = f"{latest[-1]:%Y-%m}"
    workflow = create_workflow_engine(args.workflow)
    if scores_store.latest_run(workflow, store.live_version(model_dir=args.model_dir),
                               label) is not None:
        _say(f"churn scores for {label} are ready")
        return
    _say(f"scoring {label} with the live model")
    _score(_score_args(args))


def _score_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "version": None, "month": None, "alerts": False,
                                 "fading": GROUP_FADING, "csv": None, "branch": None,
                                 "micro_region": None, "segment": None, "group": None})


def _refresh(args: argparse.Namespace) -> None:
    """Train, then score the latest month; with ``--job``, report each step to that record."""
    workflow = create_workflow_engine(args.workflow)

    def progress(step: str) -> None:
        _say(step)
        if args.job is not None:
            store.record_training_step(workflow, args.job, step)

    try:
        version = _train(argparse.Namespace(**vars(args), horizon=1, train_months=6,
                                            test_months=1, seed=0, no_baselines=True),
                         progress)
        _score(_score_args(args), progress)
    except Exception as exc:
        if args.job is not None:
            text = str(exc) if isinstance(exc, ConcertoError) else \
                f"{type(exc).__name__}: {exc}"
            store.finish_training(workflow, args.job, "failed", text)
        raise
    if args.job is not None:
        store.finish_training(workflow, args.job, "done", f"model {version} is live",
                              model_version=version)


def start_background_training(workflow, *, model_dir: Path | str | None = None,
                              max_rows: int = 1_000_000) -> int:
    """Start ``python -m jobs.churn refresh`` in its own process; the training record's id.

    The record is claimed first, as the acting person (``view_mart_admin``; refused while
    another training runs), so the page can say what is running; the process outlives the
    browser tab, reports each step to the record and closes it when done or failed. Its
    output goes to ``training-<id>.log`` in the model directory.
    """
    training_id = store.claim_training(workflow)
    folder = Path(model_dir) if model_dir is not None else store.MODEL_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"training-{training_id}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "jobs.churn", "refresh", "--job", str(training_id),
                 "--model-dir", str(folder), "--max-rows", str(int(max_rows))],
                cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        store.finish_training(workflow, training_id, "failed", f"could not start: {exc}")
        raise ConcertoError(f"The churn training could not be started: {exc}") from None
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends
    store.record_training_step(workflow, training_id, "started", pid=process.pid)
    return training_id


def _print_card(manifest: dict) -> None:
    metrics = manifest["metrics"]
    train, test = manifest["training_window"], manifest["test_window"]
    print(f"Model {manifest['version']} (created {manifest['created_at'][:19]}Z), label: churn "
          f"within {manifest['horizon_months']} month(s)")
    print(f"  trained on snapshots {', '.join(train['snapshots'])} ({train['rows']:,} rows, "
          f"{train['churners']:,} churners, labels until {train['labels_until']})")
    print(f"  tested on {', '.join(test['snapshots'])} ({test['rows']:,} rows)")
    oracle = metrics.get("oracle_roc_auc")
    print(f"  ROC-AUC {metrics['roc_auc']:.3f}"
          + (f" (oracle {oracle:.3f})" if oracle is not None else "")
          + f", PR-AUC {metrics['pr_auc']:.3f}, top-decile lift {metrics['top_decile_lift']:.2f}, "
          f"mean predicted {metrics['mean_predicted']:.2%} vs observed {metrics['observed_rate']:.2%}")
    for name, figures in manifest.get("baselines", {}).items():
        print(f"  baseline {name}: ROC-AUC {figures['roc_auc']:.3f}, PR-AUC {figures['pr_auc']:.3f}")
    drivers = ", ".join(f"{d['label']} {d['importance']:.3f}" for d in manifest["drivers"][:6])
    print(f"  top drivers (ROC-AUC lost when shuffled): {drivers}")
    print(f"  {len(manifest['features'])} features; seconds {manifest.get('seconds')}")


def run(argv: list[str] | None = None) -> int:
    """Parse and run one command; exit code 2 with a one-line message on a user error."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            _train(args)
        elif args.command == "score":
            _score(args)
        elif args.command == "ensure":
            _ensure(args)
        elif args.command == "refresh":
            _refresh(args)
        else:
            _print_card(store.load_manifest(args.version, model_dir=args.model_dir))
    except ConcertoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(as_system(run)())  # a job with no user: it acts as the system principal
