"""The benchmark: the pipeline on national-scale inputs, stage by stage, against its speed and memory targets.

    make bench        (= .venv/bin/python bench/run.py)
    .venv/bin/python bench/run.py [--contours FILE] [--perimetre france] [--seed S] [--json PATH]
                                  [--skip-tenth] [--skip-demo] [--keep] [--workdir DIR]

1. generates the national inputs, or reuses them from the cache (``bench/generate_national.py``), at scale 1 and
   at scale 0.1;
2. runs the pipeline on them in a scratch data directory, with ``OBSERVATOIRE_PERIMETRE`` (default ``france``)
   and ``OBSERVATOIRE_URL_<ID>=file://…`` for every (source, millésime) generated (the other sources replay
   the demo recordings), one child process per stage calling the pipeline's own step functions
   (``observatoire/run/``): parse and land, raw validation, spatial join, computed baromètres
   (``raw.calcul_indicateurs``, which the pipeline computes inside ``load``: timed apart here, load then reads
   its cached result), load, dbt build, mart validation, publish, snapshot. For each: wall and CPU seconds (``getrusage`` of the children: dbt's
   subprocess included), peak RSS of the stage's process tree (psutil sampling every 0.1 s; ``ru_maxrss`` if
   psutil is missing), rows and rows per second;
3. the same at scale 0.1, and the ratio full / tenth per stage;
4. the default-perimeter demo through the CLI (``observatoire run``, ``OBSERVATOIRE_MODE=demo``) in a fresh
   directory, then an unchanged re-run (which must publish nothing), and the tools' start-up measured apart
   (Python + imports of GX, pandas, duckdb; one dbt invocation) to give the project's own work;
5. prints a table with the targets (PASS / FAIL) and writes everything to ``bench/results/latest.json``.

The national contours come from ``--contours`` or ``$OBSERVATOIRE_BENCH_CONTOURS`` (never a path in the code).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PY = sys.executable
STAGES = ("parse_land", "raw_validation", "spatial_join", "calculs", "load", "dbt_build", "mart_validation",
          "publish", "snapshot")
LABELS = {"parse_land": "parse and land", "raw_validation": "validation (raw)", "spatial_join": "spatial join",
          "calculs": "computed baromètres", "load": "load", "dbt_build": "dbt build",
          "mart_validation": "validation (marts)", "publish": "publish", "snapshot": "snapshot"}
#: stages whose work grows with the rows of the large files (checked for linear cost)
ROW_STAGES = ("parse_land", "raw_validation", "spatial_join", "calculs", "load")
TARGETS = {"national_wall_s": 600, "national_rss_mb": 6144, "join_points_per_s": 1_000_000, "join_14m_s": 30,
           "demo_wall_s": 60, "demo_own_share": 1 / 3, "rerun_wall_s": 15, "linear_min_ratio": 0.8}


# =============================================================================================================
# child side: one stage of the pipeline (python bench/run.py --stage NAME --state FILE)
# =============================================================================================================

def _by_source(ctx) -> dict:
    from observatoire.run import (
        extraction,
    )

    out: dict[str, list[dict]] = {}
    for landing in ctx.history.current_landings():
        if landing["source_id"] in ctx.registry:
            landing = extraction.ensure_parsed(ctx, landing)
            out.setdefault(landing["source_id"], []).append(
                {**landing, "parsed_path": str(ctx.settings.data_dir / landing["parsed_path"])})
    return out


def run_stage(stage: str, state_path: Path) -> dict:
    """Run one stage with the pipeline's functions; returns what the parent records (rows, inner seconds…)."""
    from extract.registry import override_env_name
    from observatoire.run import (
        building,
        extraction,
        fingerprinting,
        mart_validation,
        planning,
        publication,
        raw_validation,
        retention,
    )
    from observatoire.run.building import SPATIAL_JOINS
    from observatoire.run.context import Context

    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    ctx = Context.create()
    t0 = time.perf_counter()
    out: dict = {}
    if stage == "parse_land":
        run_id = ctx.history.start_run(mode=ctx.settings.mode, perimetre=ctx.settings.perimetre, trigger="bench",
                                       params={"bench": True})
        national = json.loads(Path(state["manifest"]).read_text())["sources"]
        results = []
        # the contours first: the requests of a perimeter other than the default are built from them
        items = sorted(planning.plan(ctx), key=lambda it: it["source_id"] != "anct_qpv_contours")
        for item in items:
            sid, year = item["source_id"], item["millesime"]
            entry = national.get(f"{sid}/{year}")
            env_name = override_env_name(sid)
            if entry:
                os.environ[env_name] = entry["url"]
            else:
                os.environ.pop(env_name, None)
            r = extraction.extract_source(ctx, run_id, sid, year, target=year if entry else item["target"])
            r["national"] = bool(entry)
            if sid == "anct_qpv_contours" and r["status"] == "new":
                # accepted before the others: the requests of a perimeter other than the default are built
                # from the accepted contours (its raw gate is timed here, 1,609 rows)
                r["validation"] = raw_validation.validate_landing(ctx, run_id, r)["success"]
                r["status"] = "validated"
            results.append(r)
        failed = [r for r in results if r["status"] == "failed"]
        state.update(run_id=run_id, results=results)
        out = {"rows": sum(int(r.get("rows") or 0) for r in results),
               "failed": [r["error"]["message"][:500] for r in failed]}
    elif stage == "raw_validation":
        from expectations.runner import build_docs

        rows, failed = 0, []
        new = [r for r in state["results"] if r["status"] == "new"]
        # as the CLI does: the small files several at once, the large ones one by one in chunks
        for r, summary in zip(new, raw_validation.validate_landings(ctx, state["run_id"], new), strict=True):
            rows += int(r.get("rows") or 0)
            if not summary["success"]:
                failed.append(f"{r['source_id']}/{r['millesime']}: {summary['failed']} failed, "
                              f"{summary['errors']} errors ({summary.get('details_path', '')})")
        build_docs(raw_validation.gx_root(ctx.settings))
        out = {"rows": rows, "failed": failed}
    elif stage == "spatial_join":
        from observatoire import calculs

        by_source = _by_source(ctx)
        # the points → QPV joins only: the computed baromètres, which derived_tables() computes next, are the
        # next stage (then load finds their cached result)
        calculs.calcul_indicateurs = lambda *_a, **_k: ([], calculs.SCHEMA)
        t1 = time.perf_counter()
        derived = building.derived_tables(ctx, by_source)
        derived.pop(calculs.TABLE, None)
        join_s = time.perf_counter() - t1
        points = sum(int(landing.get("rows_parsed") or 0)
                     for spec in SPATIAL_JOINS.values() for landing in by_source.get(spec["points"], []))
        assigned = 0
        import pyarrow.parquet as pq

        for paths, _schema in derived.values():
            assigned += sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        out = {"rows": points, "join_seconds": join_s, "assigned_to_a_qpv": assigned}
    elif stage == "calculs":
        out = _calculs(ctx)
    elif stage == "load":
        counts = building.load(ctx, state["run_id"])
        out = {"rows": sum(counts.values()) if isinstance(counts, dict) else 0}
    elif stage == "dbt_build":
        building.build(ctx, state["run_id"])
        out = {"rows": _count_rows(ctx, "marts", "fct_indicateur_qpv")}
    elif stage == "mart_validation":
        summaries = mart_validation.validate_marts(ctx, state["run_id"])
        out = {"rows": _count_rows(ctx, "marts", "fct_indicateur_qpv"), "suites": len(summaries)}
    elif stage == "publish":
        fp = fingerprinting.fingerprint(ctx)
        published = publication.publish(ctx, state["run_id"], fp)
        retention.prune_raw(ctx, state["run_id"])
        ctx.history.finish_run(state["run_id"], "success", summary={"published": published}, fingerprint=fp,
                               published=True)
        out = {"rows": _count_rows(ctx, "marts", "fct_indicateur_qpv"), "tables": len(published.get("tables", []))}
    elif stage == "snapshot":
        from observatoire.snapshot import create

        snap = create(ctx.settings, datetime.now(UTC).year)
        out = {"rows": len(snap.manifest.get("files", [])), "files": len(snap.manifest.get("files", []))}
    else:
        raise SystemExit(f"unknown stage {stage}")
    out["inner_seconds"] = time.perf_counter() - t0
    state_path.write_text(json.dumps(state, default=str))
    return out


def _calculs(ctx) -> dict:
    """``raw.calcul_indicateurs`` (``observatoire/calculs.py``) exactly as ``derived_tables`` calls it during
    ``load``, with its two parts timed apart (the grid-based baromètres, the abstention gap); its result is
    cached next to the contours' parsed file, so the load stage reads it back."""
    import pyarrow.parquet as pq

    from observatoire import calculs

    by_source = _by_source(ctx)
    parts: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                parts[name] = round(time.perf_counter() - t, 2)
        return wrapper

    calculs.compute = timed("grid_seconds", calculs.compute)
    calculs.compute_abstention = timed("abstention_seconds", calculs.compute_abstention)

    def of_parser(parser: str) -> list[str]:
        return [sid for sid, src in ctx.registry.items() if src.parser == parser]

    def rows_of(sid: str) -> int:
        return sum(int(r.get("rows_parsed") or 0) for r in by_source.get(sid, []))

    gtfs, elections = of_parser(calculs.GTFS_PARSER), of_parser(calculs.ELECTIONS_PARSER)
    t1 = time.perf_counter()
    paths, _schema = calculs.calcul_indicateurs(by_source, gtfs, elections)
    seconds = time.perf_counter() - t1
    inputs = {"grid_squares": rows_of(calculs.GRID_SOURCE), "stops": sum(rows_of(s) for s in gtfs),
              "green_spaces": rows_of(calculs.OSM_SOURCE), "bureaux": rows_of(calculs.BUREAUX_SOURCE),
              "results_rows": sum(rows_of(s) for s in elections)}
    result = pq.read_table(paths[0]) if paths else None
    by_indicator: dict[str, int] = {}
    available = 0
    if result is not None:
        for ind, statut in zip(result.column("indicateur").to_pylist(), result.column("statut").to_pylist(),
                               strict=True):
            by_indicator[ind] = by_indicator.get(ind, 0) + 1
            available += statut == "disponible"
    return {"rows": inputs["grid_squares"], "inputs": inputs, "calcul_seconds": round(seconds, 2), **parts,
            "result_rows": result.num_rows if result is not None else 0, "available_rows": available,
            "rows_by_indicator": by_indicator, "cached": not parts}


def _count_rows(ctx, schema: str, table: str) -> int:
    import duckdb

    try:
        with duckdb.connect(str(ctx.settings.build_db), read_only=True) as con:
            return int(con.execute(f"select count(*) from {schema}.{table}").fetchall()[0][0])
    except Exception:  # noqa: BLE001 - a figure, not a check
        return 0


# =============================================================================================================
# parent side: measure child processes
# =============================================================================================================

class PeakRss:
    """Peak RSS of a process and its descendants, sampled (psutil), else ``ru_maxrss`` of the children."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        try:
            import psutil  # noqa: F401

            self.available = True
        except ImportError:
            self.available = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self.available:
            self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        if self.available:
            self._thread.join(timeout=2)
        return self.peak


def measure(cmd: list[str], env: dict, *, log_path: Path, cwd: Path = ROOT) -> dict:
    """Run ``cmd``; its wall, CPU (children incl. grandchildren), peak RSS and exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        sampler = PeakRss(proc.pid)
        rc = proc.wait()
    wall = time.perf_counter() - t0
    peak = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not peak:
        peak = after.ru_maxrss * 1024  # KiB on Linux: the largest child so far (an upper bound)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak / 2**20, 1), "exit": rc}


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def national_run(label: str, set_dir: Path, work: Path, perimetre: str, say) -> dict:
    data = work / f"national-{label}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    state = data / "bench-state.json"
    state.write_text(json.dumps({"manifest": str(set_dir / "manifest.json")}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_URL_")}
    env.update(OBSERVATOIRE_DATA_DIR=str(data), OBSERVATOIRE_MODE="demo", OBSERVATOIRE_PERIMETRE=perimetre,
               OBSERVATOIRE_LOCK_TIMEOUT="5", DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1")
    stages: dict[str, dict] = {}
    broken = None
    for stage in STAGES:
        if broken:
            stages[stage] = {"status": "skipped", "reason": f"{broken} failed"}
            continue
        say(f"  [{label}] {LABELS[stage]} …")
        log = data / f"bench-{stage}.log"
        result_file = data / f"bench-{stage}.json"
        m = measure([PY, str(Path(__file__).resolve()), "--stage", stage, "--state", str(state),
                     "--result", str(result_file)], env, log_path=log)
        inner = json.loads(result_file.read_text()) if result_file.exists() else {}
        m.update(inner)
        m["status"] = "ok" if m["exit"] == 0 and not inner.get("failed") else "failed"
        if m["exit"] != 0:
            m["error"] = _tail(log)
            broken = LABELS[stage]
        rows = m.get("rows") or 0
        m["rows_per_s"] = round(rows / m["wall_s"]) if rows and m["wall_s"] else None
        stages[stage] = m
        say(f"    {m['wall_s']:.1f} s wall, {m['cpu_s']:.1f} s CPU, {m['peak_rss_mb']:,.0f} MB"
            + (f", {rows:,} rows" if rows else "") + ("" if m["status"] == "ok" else "  ** FAILED **"))
        if stage == "calculs" and m["status"] == "ok":
            say(f"    grid-based part {m.get('grid_seconds', 0):.1f} s, abstention part {m.get('abstention_seconds', 0):.1f} s; "
                f"{m.get('result_rows', 0):,} rows ({m.get('available_rows', 0):,} disponible) from {m.get('inputs')}")
        if m["status"] != "ok":
            say("    " + (m.get("error") or "; ".join(inner.get("failed", [])))[-1500:].replace("\n", "\n    "))
    run_stages = [s for s in STAGES if s != "snapshot" and stages[s].get("status") == "ok"]
    total = {"wall_s": round(sum(stages[s]["wall_s"] for s in run_stages), 1),
             "cpu_s": round(sum(stages[s]["cpu_s"] for s in run_stages), 1),
             "peak_rss_mb": max((stages[s]["peak_rss_mb"] for s in run_stages), default=0),
             "complete": len(run_stages) == len(STAGES) - 1}
    return {"label": label, "data_dir": str(data), "perimetre": perimetre, "stages": stages, "total": total}


def cli_run(env: dict, data: Path, log: Path) -> dict:
    observatoire = str(Path(PY).with_name("observatoire"))
    m = measure([observatoire, "run"], env, log_path=log)
    m["output"] = _tail(log, 4)
    pub = data / "warehouse" / "observatoire.duckdb"
    m["published_stat"] = [pub.stat().st_ino, pub.stat().st_mtime_ns] if pub.exists() else None
    return m


def demo_runs(work: Path, say, repeats: int = 2) -> dict:
    """``observatoire run`` in demo mode, default perimeter, in fresh data directories: with no dbt parse cache
    for the default perimeter (a fresh clone's first run: dbt parses the whole project), the unchanged re-run
    of the first one, then with the checkout's parse cache (every later run: dbt re-parses only what
    changed). Each demo runs ``repeats`` times and the fastest counts (this machine is shared: the others
    measure its neighbours), like the start-up figures. The verdicts use the runs without cache."""
    from observatoire.config import DEFAULT_PERIMETRE
    from observatoire.dbt_runner import shared_parse_cache

    base = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_")}
    base.update(OBSERVATOIRE_MODE="demo", DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1")

    def fresh(name: str, cold: bool) -> tuple[dict, dict, Path]:
        data = work / name
        shutil.rmtree(data, ignore_errors=True)
        env = {**base, "OBSERVATOIRE_DATA_DIR": str(data)}
        if cold:  # a cache: the run writes it again
            shared_parse_cache({"perimetre": DEFAULT_PERIMETRE}).unlink(missing_ok=True)
        m = cli_run(env, data, work / f"{name}.log")
        say(f"    {m['wall_s']:.1f} s wall, {m['cpu_s']:.1f} s CPU, exit {m['exit']}")
        return m, env, data

    say(f"  demo (default perimeter, fresh directory, no dbt parse cache) × {repeats} …")
    colds = [fresh(f"demo-{i}", cold=True) for i in range(repeats)]
    first, env, data = min(colds, key=lambda c: c[0]["wall_s"])
    first["runs_wall_s"] = [c[0]["wall_s"] for c in colds]
    say("  unchanged re-run …")
    again = cli_run(env, data, work / "demo-rerun.log")
    again["published_nothing_new"] = bool(first["published_stat"]) and again["published_stat"] == first["published_stat"]
    say(f"    {again['wall_s']:.1f} s wall, exit {again['exit']}, published nothing new: "
        f"{again['published_nothing_new']}")
    say(f"  demo (default perimeter, fresh directory, the checkout's dbt parse cache) × {repeats} …")
    warms = [fresh(f"demo-warm-{i}", cold=False)[0] for i in range(repeats)]
    warm = min(warms, key=lambda m: m["wall_s"])
    warm["runs_wall_s"] = [m["wall_s"] for m in warms]
    say("  tools' start-up …")
    startup = startup_costs(env, data, work)
    n_dbt = 1  # one `dbt build` per run (observatoire/building.build)
    fixed = startup["python_imports_s"] + n_dbt * startup["dbt_startup_s"]
    own = max(first["wall_s"] - fixed, 0.0)
    own_warm = max(warm["wall_s"] - fixed, 0.0)
    return {"first": first, "rerun": again, "warm": warm, "startup": startup, "dbt_invocations": n_dbt,
            "startup_total_s": round(fixed, 2), "own_work_s": round(own, 2),
            "own_share": round(own / first["wall_s"], 3) if first["wall_s"] else None,
            "own_work_warm_s": round(own_warm, 2),
            "own_share_warm": round(own_warm / warm["wall_s"], 3) if warm["wall_s"] else None}


def startup_costs(env: dict, data: Path, work: Path) -> dict:
    """Python + the heavy imports of the run's process (GX, pandas, duckdb, pyarrow), and one dbt invocation
    doing no work (``dbt parse`` on the warm partial-parse cache of the demo's directory)."""
    imports = ("import logging; logging.getLogger('great_expectations').setLevel(logging.WARNING); "
               "import great_expectations, pandas, duckdb, pyarrow, shapely, click, yaml")
    py = min(measure([PY, "-c", "pass"], env, log_path=work / "startup-python.log")["wall_s"] for _ in range(3))
    imp = min(measure([PY, "-c", imports], env, log_path=work / "startup-imports.log")["wall_s"] for _ in range(2))
    cmd = [PY, "-c", "import sys; from pathlib import Path; from observatoire.config import load_settings; "
           "from observatoire.dbt_runner import run_dbt; "
           "run_dbt(load_settings(), ['parse'], log_path=Path(sys.argv[1]), vars={'perimetre': load_settings().perimetre})",
           str(work / "startup-dbt-parse.log")]
    dbt = min(measure(cmd, env, log_path=work / "startup-dbt.log")["wall_s"] for _ in range(2))
    return {"python_s": py, "python_imports_s": imp, "dbt_startup_s": round(max(dbt - py, 0.0), 2),
            "dbt_parse_wall_s": dbt}


# =============================================================================================================
# report
# =============================================================================================================

def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    return {"nproc": os.cpu_count(), "ram_gb": round(mem / 2**30, 1), "cpu": cpu, "python": platform.python_version(),
            "load_average_at_start": list(os.getloadavg())}


def verdicts(full: dict | None, tenth: dict | None, demo: dict | None) -> list[dict]:
    out = []

    def add(name: str, value, target: str, ok: bool | None, note: str = "") -> None:
        out.append({"target": name, "value": value, "goal": target,
                    "result": "n/a" if ok is None else ("PASS" if ok else "FAIL"), "note": note})

    if full:
        t = full["total"]
        add("national full run from landed files (wall)", f"{t['wall_s']:.0f} s", "≤ 600 s",
            t["wall_s"] <= TARGETS["national_wall_s"] if t["complete"] else False,
            "" if t["complete"] else "incomplete: a stage failed")
        add("national full run peak RSS", f"{t['peak_rss_mb']:,.0f} MB", "≤ 6 GB", t["peak_rss_mb"] <= TARGETS["national_rss_mb"])
        sj = full["stages"].get("spatial_join", {})
        if sj.get("status") == "ok" and sj.get("join_seconds"):
            pps = sj["rows"] / sj["join_seconds"]
            add("spatial join throughput", f"{pps:,.0f} points/s", "≥ 1 M points/s", pps >= TARGETS["join_points_per_s"],
                "join only (index build, read and write of the Parquet included; stage start-up excluded)")
            add(f"{sj['rows']:,} DPE assigned", f"{sj['join_seconds']:.1f} s", "≤ 30 s",
                sj["join_seconds"] <= TARGETS["join_14m_s"])
        else:
            add("spatial join", "—", "≥ 1 M points/s, 14 M in ≤ 30 s", False, "stage did not run")
    if full and tenth:
        worst = None
        for s in ROW_STAGES:
            a, b = full["stages"].get(s, {}), tenth["stages"].get(s, {})
            if a.get("rows_per_s") and b.get("rows_per_s"):
                r = a["rows_per_s"] / b["rows_per_s"]
                worst = r if worst is None else min(worst, r)
        add("cost linear in rows (rows/s full ÷ rows/s tenth, worst row stage)",
            "—" if worst is None else f"{worst:.2f}", "≥ 0.8", None if worst is None else worst >= TARGETS["linear_min_ratio"])
    if demo:
        f, r = demo["first"], demo["rerun"]
        add("demo end to end (CLI)", f"{f['wall_s']:.1f} s", "≤ 60 s", f["exit"] == 0 and f["wall_s"] <= TARGETS["demo_wall_s"])
        if demo.get("own_share") is not None:
            add("demo: project's own work share", f"{demo['own_share']:.0%} ({demo['own_work_s']:.1f} s)", "< 1/3",
                demo["own_share"] < TARGETS["demo_own_share"],
                f"own work = demo − start-up; {demo['own_work_s'] / TARGETS['demo_wall_s']:.0%} of the 60 s budget; "
                f"with the checkout's dbt parse cache {demo['own_share_warm']:.0%} ({demo['own_work_warm_s']:.1f} s)")
        add("unchanged re-run", f"{r['wall_s']:.1f} s", "≤ 15 s and nothing published",
            r["exit"] == 0 and r["wall_s"] <= TARGETS["rerun_wall_s"] and r["published_nothing_new"])
    return out


def table(full: dict | None, tenth: dict | None) -> str:
    lines = []
    head = f"{'stage':<20}{'wall s':>9}{'CPU s':>9}{'peak MB':>10}{'rows':>13}{'rows/s':>12}"
    if tenth:
        head += f"{'1/10 wall':>11}{'ratio':>7}"
    lines.append(head)
    lines.append("-" * len(head))
    for s in STAGES:
        a = (full or {}).get("stages", {}).get(s, {})
        if a.get("status") == "skipped" or not a:
            lines.append(f"{LABELS[s]:<20}{'skipped':>9}")
            continue
        row = (f"{LABELS[s]:<20}{a['wall_s']:>9.1f}{a['cpu_s']:>9.1f}{a['peak_rss_mb']:>10,.0f}"
               f"{(a.get('rows') or 0):>13,}{(a.get('rows_per_s') or 0):>12,}")
        if tenth:
            b = tenth["stages"].get(s, {})
            if b.get("wall_s"):
                row += f"{b['wall_s']:>11.1f}{a['wall_s'] / b['wall_s']:>7.1f}"
        if a.get("status") != "ok":
            row += "  FAILED"
        lines.append(row)
    if full:
        t = full["total"]
        lines.append("-" * len(head))
        row = f"{'run (excl. snapshot)':<20}{t['wall_s']:>9.1f}{t['cpu_s']:>9.1f}{t['peak_rss_mb']:>10,.0f}"
        if tenth and tenth["total"]["wall_s"]:
            row += " " * 25 + f"{tenth['total']['wall_s']:>11.1f}{t['wall_s'] / tenth['total']['wall_s']:>7.1f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contours", default=os.environ.get("OBSERVATOIRE_BENCH_CONTOURS"),
                    help="the national ANCT contours (GeoJSON); default $OBSERVATOIRE_BENCH_CONTOURS")
    ap.add_argument("--perimetre", default=os.environ.get("OBSERVATOIRE_BENCH_PERIMETRE", "france"))
    ap.add_argument("--seed", type=int, default=20240627)
    ap.add_argument("--scale", type=float, default=1.0, help="scale of the 'full' run (the other is a tenth of it)")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--workdir", type=Path, default=None, help="scratch data directories (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    ap.add_argument("--skip-tenth", action="store_true")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--demo-repeats", type=int, default=2, help="runs of each demo; the fastest counts")
    ap.add_argument("--skip-national", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the scratch data directories")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.stage:  # child
        try:
            out = run_stage(args.stage, args.state)
        except BaseException:
            traceback.print_exc()
            return 1
        args.result.write_text(json.dumps(out, default=str))
        return 0

    if not args.skip_national and not args.contours:
        ap.error("give the national contours with --contours or $OBSERVATOIRE_BENCH_CONTOURS")

    def say(msg: str) -> None:
        print(msg, flush=True)

    started = time.perf_counter()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="observatoire-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                    "perimetre": args.perimetre, "seed": args.seed, "scale": args.scale, "targets": TARGETS}
    full = tenth = demo = None
    try:
        if not args.skip_national:
            from bench import generate_national as gen

            t0 = time.perf_counter()
            full_set = gen.generate(Path(args.contours), seed=args.seed, scale=args.scale,
                                    cache=args.cache_dir, log=say)
            tenth_set = None if args.skip_tenth else gen.generate(Path(args.contours), seed=args.seed,
                                                                  scale=args.scale / 10,
                                                                  cache=args.cache_dir, log=say)
            report["generation_s"] = round(time.perf_counter() - t0, 1)
            report["inputs"] = {k: json.loads((d / "manifest.json").read_text())
                                for k, d in (("full", full_set), ("tenth", tenth_set)) if d}
            for doc in report["inputs"].values():
                doc["sources"] = {k: {x: v[x] for x in ("rows", "bytes") if x in v} for k, v in doc["sources"].items()}
            say(f"national run (perimetre {args.perimetre}), scale {args.scale:g}:")
            full = national_run("full", full_set, work, args.perimetre, say)
            if tenth_set:
                say(f"national run (perimetre {args.perimetre}), scale {args.scale / 10:g}:")
                tenth = national_run("tenth", tenth_set, work, args.perimetre, say)
        if not args.skip_demo:
            say("default-perimeter demo:")
            demo = demo_runs(work, say, repeats=max(1, args.demo_repeats))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report.update(national_full=full, national_tenth=tenth, demo=demo, verdicts=verdicts(full, tenth, demo),
                  bench_seconds=round(time.perf_counter() - started, 1))
    print()
    m = report["machine"]
    print(f"observatoire benchmark, {report['date']}: {m['nproc']} cores, {m['ram_gb']} GB RAM, {m['cpu']}; "
          f"perimetre {args.perimetre}")
    if full:
        print(table(full, tenth))
    if demo:
        s = demo["startup"]
        print(f"\ndemo {demo['first']['wall_s']:.1f} s (fastest of {demo['first']['runs_wall_s']}; CPU "
              f"{demo['first']['cpu_s']:.1f} s, peak "
              f"{demo['first']['peak_rss_mb']:,.0f} MB); re-run {demo['rerun']['wall_s']:.1f} s; start-up: Python "
              f"{s['python_s']:.2f} s, Python + imports {s['python_imports_s']:.2f} s, dbt {s['dbt_startup_s']:.2f} s "
              f"× {demo['dbt_invocations']} → own work {demo['own_work_s']:.1f} s; with the checkout's dbt parse "
              f"cache: demo {demo['warm']['wall_s']:.1f} s, own work {demo['own_work_warm_s']:.1f} s")
    print()
    for v in report["verdicts"]:
        print(f"{v['result']:<5} {v['target']}: {v['value']} (target {v['goal']})" + (f"  [{v['note']}]" if v["note"] else ""))
    print(f"\nbenchmark took {report['bench_seconds']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=str, ensure_ascii=False))
    print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
