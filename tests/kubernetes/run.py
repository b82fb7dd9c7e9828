"""Run the scenarios at full length (the manifests' own seconds) and print a table:

    target/venv/bin/python -m tests.kubernetes [--short] [--scenarios rolling,scale,...]
                                                [--servers hurricane,django-hurricane]
                                                [--seed N] [--factor F] [--workdir DIR]

--short runs them as the tests do: every manifest duration times 0.2 (probe periods,
timeouts, minReadySeconds, the grace period, the ConfigMap's shutdown delay, graceful
timeout and probe timeout, the 0-2 s propagation delay), shorter holds. The exit
status is 1 when a scenario that must lose no request lost one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    __package__ = "tests.kubernetes"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `support`

from support.env import BIN, REPO  # noqa: E402

from . import scenarios  # noqa: E402
from .images import DJANGO_HURRICANE, HURRICANE, build_project, django_hurricane_available, django_hurricane_image, hurricane_image, probetest_image  # noqa: E402
from .manifest import DEPLOY_DIR, Timing, load  # noqa: E402

SHORT_FACTOR = 0.2
SCENARIOS = ("rolling", "scale", "wedged", "database", "control")
# Scenarios whose every request must succeed.
ZERO_FAILURES = {"rolling": HURRICANE, "scale": HURRICANE, "database": HURRICANE}


def make_context(workdir: Path, factor: float, seed: int, short: bool, servers: list[str]) -> scenarios.Context:
    workdir = workdir.resolve()  # the pods run elsewhere
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = load(DEPLOY_DIR).scaled(factor)
    v1 = build_project(workdir / "images" / "v1", "v1")
    v2 = build_project(workdir / "images" / "v2", "v2")
    flags = workdir / "flags"
    images = {HURRICANE: (hurricane_image(v1, "v1"), hurricane_image(v2, "v2")), "probetest": (probetest_image(v1, "v1", flags),) * 2}
    if DJANGO_HURRICANE in servers:
        images[DJANGO_HURRICANE] = (django_hurricane_image(v1, "v1"), django_hurricane_image(v2, "v2"))
    return scenarios.Context(manifest, Timing(factor=factor), images, flags, workdir, seed, short)


def run(ctx: scenarios.Context, which: list[str], servers: list[str]) -> list[tuple[str, scenarios.Result]]:
    plan = []
    if "rolling" in which:
        plan += [("rolling", lambda s=s: scenarios.rolling_update(ctx, s)) for s in servers]
    plan += [(name, fn) for name, fn in (("scale", lambda: scenarios.scale(ctx)), ("wedged", lambda: scenarios.wedged(ctx)), ("database", lambda: scenarios.database_down(ctx)), ("control", lambda: scenarios.endpoint_race(ctx))) if name in which]
    results = []
    for name, fn in plan:
        t = time.time()
        res = fn()
        print(res.summary(), f"\n  (ran {time.time() - t:.0f}s)", flush=True)
        results.append((name, res))
    return results


def table(results: list[scenarios.Result]) -> str:
    head = ["scenario", "server", "requests", "failed", "retries", "duration", "req/s"]
    rows = [head] + [r.row() for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubernetes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help=f"manifest durations x{SHORT_FACTOR}, short holds (what the tests run)")
    parser.add_argument("--factor", type=float, help="time factor for the manifest's durations (default 1, or 0.2 with --short)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--servers", default=f"{HURRICANE},{DJANGO_HURRICANE}", help="servers of the rolling update")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--workdir", type=Path, help="where images and logs go (default: a new directory under target/k8s-sim)")
    args = parser.parse_args(argv)
    which = [s for s in args.scenarios.split(",") if s]
    servers = [s for s in args.servers.split(",") if s]
    unknown = sorted(set(which) - set(SCENARIOS)) + sorted(set(servers) - {HURRICANE, DJANGO_HURRICANE})
    if unknown:
        parser.error(f"unknown scenario or server: {', '.join(unknown)}")
    if DJANGO_HURRICANE in servers and (why := django_hurricane_available()):
        print(f"skipping django-hurricane: {why}", file=sys.stderr)
        servers.remove(DJANGO_HURRICANE)
    factor = args.factor or (SHORT_FACTOR if args.short else 1.0)
    root = REPO / "target" / "k8s-sim"
    root.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=root))
    print(f"hurricane: {BIN}\nmanifests: {DEPLOY_DIR}\ntime factor {factor:g}, seed {args.seed}, logs in {workdir}\n", flush=True)
    ctx = make_context(workdir, factor, args.seed, args.short, servers)
    results = run(ctx, which, servers)
    print("\n" + table([r for _, r in results]))
    (workdir / "results.json").write_text(json.dumps([{k: v for k, v in vars(r).items() if k != "checks"} for _, r in results], indent=1, default=str))
    bad = [r for name, r in results if ZERO_FAILURES.get(name) == r.server and r.failed]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
