"""Extract: fetch → parse → land one source millésime (the landed file immutable, its manifest row), and quarantine."""

from __future__ import annotations

import traceback
from pathlib import Path

from extract.apis import fetch_paged
from extract.errors import ExtractError
from extract.http import FetchPolicy, fetch, redact, redact_text
from extract.landing import file_sha256, land_file, landed_extension, parsed_path_for, write_parsed
from extract.parsers import ParseContext, code_fingerprint, get_parser
from extract.registry import Source, recording_path, resolve_url
from observatoire import progress
from observatoire.config import Settings
from observatoire.errors import PipelineError
from observatoire.locking import writer_lock
from observatoire.run.context import Context, _json_or_empty, _rel, now_utc


def _parse_to_parquet(src: Source, raw_path: Path, millesime: int, url: str, shown: str) -> tuple[Path, int]:
    parser = get_parser(src.parser)
    dest = parsed_path_for(raw_path, code_fingerprint())
    batches = parser.parse(raw_path, ParseContext(src.id, millesime, redact(url), shown))
    rows = write_parsed(_counted(batches, src.id, millesime), parser.spec.arrow_schema(), dest)
    return dest, rows


def _counted(batches, source_id: str, millesime: int):
    """The parser's batches, the rows parsed so far told to the progress display."""
    rep = progress.current()
    rep.source_stage(source_id, millesime, "parsing")
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        rep.source_stage(source_id, millesime, f"parsing: {rows:,} rows")
        yield batch


def ensure_parsed(ctx: Context, landing: dict) -> dict:
    """The landing with an up-to-date parsed Parquet (re-parsed if the extract code changed)."""
    data = ctx.settings.data_dir
    raw_path = data / landing["raw_path"]
    wanted = parsed_path_for(raw_path, code_fingerprint())
    if landing.get("parsed_path") == _rel(ctx, wanted) and wanted.exists():
        return landing
    src = ctx.registry[landing["source_id"]]
    found = file_sha256(raw_path) if raw_path.exists() else "no file"
    if found != landing["sha256"]:  # parse only the bytes that were validated
        rel = landing["raw_path"]
        raise PipelineError("load", f"[{src.id}] the landed file {rel} (millésime {landing['millesime']}) no "
                            f"longer matches its sha256: expected {landing['sha256']}, found {found}. It was "
                            "altered or removed on disk; fetch it again with `observatoire run --force --source "
                            f"{src.id} --millesime {landing['millesime']}`")
    shown = Path(landing["url"]).name or raw_path.name
    dest, rows = _parse_to_parquet(src, raw_path, landing["millesime"], landing["url"], shown)
    return ctx.history.record_landing({**landing, "parsed_path": _rel(ctx, dest), "rows_parsed": rows},
                                      landing.get("last_run_id") or "reparse")


def key_for(src: Source, millesime: int, url: str) -> str | None:
    """The variable of the source's API key, only when ``url`` goes to the host the key is configured for (the
    registry's URL of the source): an override pointing elsewhere never receives it."""
    from urllib.parse import urlsplit

    if not src.api_key_env:
        return None
    entry = src.millesimes.get(millesime)

    def origin(u: str) -> tuple:  # scheme, host and port: never the key in clear text or to another port
        parts = urlsplit(u)
        return parts.scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(parts.scheme)

    configured = {origin(u) for u in ([entry.url] if entry else []) + [src.perimetre_url or ""] if u}
    return src.api_key_env if origin(url) in configured else None


def extract_source(ctx: Context, run_id: str, source_id: str, millesime: int, *,
                   target: int | None = None, force: bool = False) -> dict:
    """Fetch, parse and land one millésime of one source. Never raises for a source problem: returns a
    result with ``status`` = new | unchanged | restored (an earlier accepted file again: no new validation, it
becomes the loaded one) | failed (and ``error`` for the latter)."""
    src = ctx.registry[source_id]
    result: dict = {"source_id": source_id, "millesime": millesime, "status": "failed"}
    h = ctx.history
    h.step(run_id, "extract", f"{source_id}/{millesime}", "running")
    try:
        params = None
        if src.perimetre_url:
            from observatoire.perimetre import url_params

            params = url_params(ctx.settings)
        url, origin = resolve_url(src, millesime, ctx.settings.mode, target_millesime=target, url_params=params)
        result.update(url=redact(url), origin=origin)
        current = h.current_landing(source_id, millesime)
        validators = None
        if current and not force and current["url"] == redact(url):  # the history keeps URLs redacted
            validators = h.http_validators(url)
        api_key_env = key_for(src, millesime, url)
        policy = FetchPolicy()
        if src.max_bytes:
            policy.max_bytes = src.max_bytes
        if src.kind == "api":
            session = None
            if origin == "recording":  # demo: the cassette answers the publisher's URLs
                from extract.replay import replay_session

                session = replay_session(recording_path(src, millesime))
            fetched = fetch_paged(url, ctx.settings.tmp_dir, source_id=source_id, paginator=src.paginator,
                                  policy=policy, session=session, api_key_env=api_key_env,
                                  rate_limit_per_minute=None if session else src.rate_limit_per_minute,
                                  progress=progress.download_hook(source_id, millesime))
        else:
            fetched = fetch(url, ctx.settings.tmp_dir, source_id=source_id, validators=validators, policy=policy,
                            api_key_env=api_key_env, progress=progress.download_hook(source_id, millesime))
        if fetched.status == "not_modified" and current:
            h.touch_landing(source_id, millesime, current["sha256"], run_id)
            result.update(status="unchanged", sha256=current["sha256"], rows=current["rows_parsed"],
                          reason="HTTP 304 Not Modified")
            h.step(run_id, "extract", f"{source_id}/{millesime}", "unchanged", "HTTP 304")
            return result
        if fetched.status == "not_modified":  # validators without a current landing: fetch in full
            fetched = fetch(url, ctx.settings.tmp_dir, source_id=source_id, policy=policy,
                            api_key_env=api_key_env, progress=progress.download_hook(source_id, millesime))
        sha = fetched.sha256
        result.update(sha256=sha, bytes=fetched.bytes)
        existing = h.find_landing(source_id, millesime, sha)
        set_aside = _json_or_empty(existing.get("validation")).get("set_aside") if existing else None
        if set_aside and existing["status"] == "quarantined" and not force:
            # an operator set this very file aside (observatoire quarantine): never accepted again by itself
            fetched.path.unlink(missing_ok=True)
            reason = (f"file {sha[:12]}… set aside on {set_aside.get('at')} ({set_aside.get('reason')}); the "
                      f"previous accepted file stays in use (--force re-validates it)")
            result.update(status="set_aside", reason=reason)
            h.step(run_id, "extract", f"{source_id}/{millesime}", "set_aside", reason)
            return result
        if existing and existing["status"] == "accepted" and not force:
            fetched.path.unlink(missing_ok=True)
            h.touch_landing(source_id, millesime, sha, run_id)
            h.adopt_url(source_id, millesime, sha, url, origin)  # a landing rebuilt by repair learns its URL again
            h.save_http_validators(url, fetched.etag, fetched.last_modified, sha)
            if current and current["sha256"] != sha:  # the publisher went back to an earlier file
                reason = (f"same bytes as an earlier accepted file (sha256 {sha[:12]}…), loaded again in place of "
                          f"{current['sha256'][:12]}…")
                result.update(status="restored", rows=existing["rows_parsed"], reason=reason)
                h.step(run_id, "extract", f"{source_id}/{millesime}", "restored", reason)
                return result
            result.update(status="unchanged", rows=existing["rows_parsed"], reason="same sha256 as the loaded file")
            h.step(run_id, "extract", f"{source_id}/{millesime}", "unchanged", "same sha256")
            return result
        ext = landed_extension(fetched.path, fetched.filename)
        raw_path = land_file(fetched.path, ctx.settings.raw_dir, source_id, millesime, sha, ext)
        row = {"source_id": source_id, "millesime": millesime, "sha256": sha, "url": url, "url_origin": origin,
               "bytes": fetched.bytes, "etag": fetched.etag, "last_modified": fetched.last_modified,
               "content_type": fetched.content_type, "raw_path": _rel(ctx, raw_path), "parsed_path": None,
               "rows_parsed": None}
        try:
            parsed, rows = _parse_to_parquet(src, raw_path, millesime, url, fetched.filename)
        except ExtractError as err:
            h.record_landing(row, run_id, relanded=True)
            h.set_landing_status(source_id, millesime, sha, "quarantined", {"parse_error": err.as_dict()})
            raise
        landing = h.record_landing({**row, "parsed_path": _rel(ctx, parsed), "rows_parsed": rows}, run_id,
                                   relanded=True)
        result.update(status="new", rows=rows, raw_path=str(raw_path), parsed_path=str(parsed),
                      fetched_at=landing["fetched_at"], etag=fetched.etag, last_modified=fetched.last_modified)
        h.step(run_id, "extract", f"{source_id}/{millesime}", "landed", f"{rows} rows, sha256 {sha[:12]}")
        return result
    except ExtractError as err:
        result["error"] = err.as_dict()
        h.step(run_id, "extract", f"{source_id}/{millesime}", "failed", str(err))
        return result
    except Exception as err:  # noqa: BLE001 - reported as this source's failure, the others go on
        result["error"] = {"kind": "internal", "source_id": source_id, "message":
                           redact_text(f"[{source_id}] unexpected error: {err.__class__.__name__}: {err}"),
                           "traceback": redact_text(traceback.format_exc())}
        h.step(run_id, "extract", f"{source_id}/{millesime}", "failed", result["error"]["message"])
        return result


class QuarantineError(ValueError):
    """``observatoire quarantine``: nothing to set aside (exit 2)."""


def quarantine(settings: Settings, source_id: str, millesime: int, reason: str) -> dict:
    """Set the file in use for ``source_id`` / ``millesime`` aside (``quarantined``, by an operator): the previous
    accepted file of that millésime is used again from the next run; the same file fetched again is not accepted
    again unless ``run --force``. Returns the file set aside and the one now in use (or None)."""
    ctx = Context.create(settings)
    if source_id not in ctx.registry:
        import difflib

        close = difflib.get_close_matches(source_id, list(ctx.registry), n=3)
        raise QuarantineError(f"unknown source {source_id!r}" + (f" (did you mean {', '.join(close)}?)" if close
                                                                  else ""))
    with writer_lock(ctx.settings.lock_path, f"observatoire quarantine {source_id} {millesime}"):
        current = ctx.history.current_landing(source_id, millesime)
        if current is None:
            raise QuarantineError(f"{source_id} millésime {millesime}: no accepted file to set aside")
        validation = _json_or_empty(current.get("validation"))
        validation["set_aside"] = {"at": now_utc(), "reason": reason}
        ctx.history.set_landing_status(source_id, millesime, current["sha256"], "quarantined", validation)
        now = ctx.history.current_landing(source_id, millesime)
    return {"set_aside": current, "in_use": now}
