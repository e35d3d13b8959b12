"""Which (source, millésime) items a run fetches, and the checks of a run request.

For every selected source: its latest millésime (the nightly refresh: an unchanged file is detected by HTTP
validators or sha256 and skipped), plus any older millésime of the registry never loaded successfully (so a fresh
data directory is backfilled). ``millesime=`` fetches that millésime only; ``force=True`` ignores the unchanged
checks."""

from __future__ import annotations

from extract.registry import Source
from observatoire.errors import PipelineError, RunRequestError
from observatoire.history import History
from observatoire.perimetre import CONTOURS_SOURCE
from observatoire.run.context import Context


def check_request(registry: dict[str, Source], *, sources: list[str] | None = None,
                  millesime: int | None = None, history: History | None = None) -> None:
    """Refuse a request no run could carry out, naming what is wrong and what exists. With the data
    directory's ``history``: a run restricted to some sources needs the others loaded before (the marts
    and their comparators are built from every source)."""
    unknown = [s for s in (sources or []) if s not in registry]
    if unknown:
        raise RunRequestError(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(registry)}")
    if (sources or millesime is not None) and history is not None and not history.current_landings():
        asked = [f"--source {s}" for s in sources or []] + ([f"--millesime {millesime}"] if millesime else [])
        raise RunRequestError(
            f"{' '.join(asked)}: nothing is loaded in this data directory yet, and a publication is built from "
            "every source; run `observatoire run` without --source or --millesime first (it loads every source "
            "and millésime), then --source and --millesime refresh or backfill some of them")
    selected = [registry[s] for s in sources] if sources else list(registry.values())
    published = [src for src in selected if src.status == "publie" and src.millesimes]
    if sources and not published:
        raise RunRequestError(
            f"no millésime to fetch for {', '.join(sources)}: "
            + "; ".join(f"{src.id} is {src.status}" + (" with no millésime" if not src.millesimes else "")
                        for src in selected)
            + " (see `observatoire sources list`)")
    if millesime is not None and not any(millesime in src.millesimes for src in published):
        years = sorted({y for src in published for y in src.millesimes})
        raise RunRequestError(f"no selected source has millésime {millesime}; the selected sources have "
                              f"{', '.join(map(str, years))}")


def check_breaks(registry: dict[str, Source], accept_breaks: dict[str, str] | None,
                 sources: list[str] | None) -> None:
    """``--accept-break SOURCE``: a known source with a parser, among the selected ones, with a reason."""
    import difflib

    for source_id, reason in (accept_breaks or {}).items():
        if source_id not in registry:
            close = difflib.get_close_matches(source_id, list(registry), n=3)
            raise RunRequestError(f"--accept-break {source_id}: unknown source"
                                  + (f" (did you mean {', '.join(close)}?)" if close else ""))
        if sources and source_id not in sources:
            raise RunRequestError(f"--accept-break {source_id}: not among the selected --source "
                                  f"({', '.join(sources)})")
        if not (reason or "").strip():
            raise RunRequestError(f"--accept-break {source_id}: give the reason of the break (--reason)")


def plan(ctx: Context, *, sources: list[str] | None = None, millesime: int | None = None) -> list[dict]:
    """The (source, millésime) pairs a run fetches, each with the millésime being loaded (``target``). The
    ANCT contours come first, and are added to a run restricted to other sources while the data directory
    has none landed (the perimeter's QPV and the spatial join come from them)."""
    try:
        check_request(ctx.registry, sources=sources, millesime=millesime)
    except RunRequestError as err:
        raise PipelineError("extract", str(err)) from None
    selected = [ctx.registry[s] for s in sources] if sources else list(ctx.registry.values())
    current = {(r["source_id"], r["millesime"]) for r in ctx.history.current_landings()}
    contours = ctx.registry.get(CONTOURS_SOURCE)
    added = None  # the contours, fetched whatever the request while none are accepted
    if contours and not any(sid == contours.id for sid, _ in current):
        added = contours
        selected = [contours] + [src for src in selected if src is not contours]
    items = []
    for src in selected:
        if src.status != "publie" or not src.millesimes:
            continue
        if millesime is not None and src is not added:
            if millesime in src.millesimes:
                items.append({"source_id": src.id, "millesime": millesime, "target": millesime})
            continue
        latest = src.latest_millesime
        for year in sorted(src.millesimes):
            if year == latest or (src.id, year) not in current:
                items.append({"source_id": src.id, "millesime": year, "target": latest})
    # the référentiel first (see observatoire.run.conductor.land)
    return sorted(items, key=lambda it: it["source_id"] != CONTOURS_SOURCE)
