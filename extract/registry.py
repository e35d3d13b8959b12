"""The source registry: ``extract/sources.yml`` describes every source the observatory loads.

A source has an ``id`` (never a year: the year is the millésime), a family, a publisher, a licence,
a format, and one URL per millésime (the year the data describes). The URL actually fetched depends
on the mode and on an optional environment override:

* ``OBSERVATOIRE_URL_<ID>`` (id upper-cased, non-alphanumerics as ``_``) replaces the URL of the
  millésime being loaded (the latest unless another one is asked for), in every mode;
* otherwise ``demo`` mode replays the project's recording (``extract/recordings/...``) through the same
  fetch and parse code, and ``live`` mode uses the publisher's URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from extract.errors import ExtractError
from extract.settings import current

REGISTRY_PATH = Path(__file__).resolve().parent / "sources.yml"
RECORDINGS_DIR = Path(__file__).resolve().parent / "recordings"

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED = ("id", "family", "publisher", "licence", "format")
KINDS = ("file", "api")
STATUSES = ("publie", "non_publie")


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class Millesime:
    year: int
    url: str
    published: str | None = None
    recording: str | None = None
    #: a known break of series starting with this millésime (a new methodology): the comparison with the
    #: previous millésime only warns, and the break is recorded (rupture_serie), as with --accept-break
    rupture: str | None = None


@dataclass(frozen=True)
class Source:
    id: str
    family: str
    publisher: str
    licence: str
    format: str
    parser: str | None = None
    kind: str = "file"  # file: one URL, one file | api: paged JSON (see extract/apis.py)
    paginator: str | None = None
    rate_limit_per_minute: float | None = None
    status: str = "publie"  # non_publie: not published yet for the 2024 geography (see reason, next_release)
    reason: str | None = None
    title: str = ""
    landing_page: str | None = None
    geography: str | None = None
    next_release: str | None = None
    api_key_env: str | None = None
    max_bytes: int | None = None
    notes: str = ""
    millesimes: dict[int, Millesime] = field(default_factory=dict)
    #: for a source whose request depends on the perimeter (comparators, DPE by commune): the URL template used
    #: for any perimeter but the default one, with ``{millesime}`` and the perimeter's parameters (``{geo}``,
    #: ``{dpe_communes}``, see observatoire.perimetre); the millésimes' URLs are the default perimeter's
    perimetre_url: str | None = None
    #: tolerances of the comparison with the last accepted load (expectations/drift.py: factor,
    #: max_share_jumped, max_null_increase, max_median_factor, max_match_drop, min_rows); empty: the defaults
    drift: dict[str, float] = field(default_factory=dict)

    @property
    def env_override_name(self) -> str:
        return override_env_name(self.id)

    @property
    def latest_millesime(self) -> int | None:
        return max(self.millesimes) if self.millesimes else None

    def as_public_dict(self) -> dict[str, Any]:
        """The shape printed by ``observatoire sources list --json``."""
        return {
            "id": self.id,
            "family": self.family,
            "publisher": self.publisher,
            "licence": self.licence,
            "format": self.format,
            "millesimes": {str(y): m.url for y, m in sorted(self.millesimes.items())},
        }


def override_env_name(source_id: str) -> str:
    return "OBSERVATOIRE_URL_" + re.sub(r"[^A-Za-z0-9]", "_", source_id).upper()


def _parse_source(raw: dict[str, Any], path: Path) -> Source:
    missing = [k for k in _REQUIRED if not raw.get(k)]
    if missing:
        raise RegistryError(f"{path}: source {raw.get('id', '?')!r} lacks {', '.join(missing)}")
    sid = str(raw["id"])
    if not _ID_RE.match(sid) or re.search(r"(19|20)\d\d", sid):
        raise RegistryError(
            f"{path}: source id {sid!r} must be ASCII snake_case and must not contain a year "
            "(the year is the millésime)"
        )
    kind = str(raw.get("kind", "file"))
    status = str(raw.get("status", "publie"))
    if kind not in KINDS:
        raise RegistryError(f"{path}: source {sid!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if status not in STATUSES:
        raise RegistryError(f"{path}: source {sid!r}: status {status!r} is not one of {', '.join(STATUSES)}")
    if status == "publie" and not raw.get("parser"):
        raise RegistryError(f"{path}: source {sid!r} lacks parser")
    if status == "non_publie" and not (raw.get("reason") and raw.get("next_release")):
        raise RegistryError(f"{path}: source {sid!r} is non_publie: give its reason and next_release")
    drift = raw.get("drift") or {}
    if not isinstance(drift, dict):
        raise RegistryError(f"{path}: source {sid!r}: drift must be a mapping of tolerances")
    from expectations.drift import Tolerances

    try:
        Tolerances.from_mapping(drift)
    except (TypeError, ValueError) as err:
        raise RegistryError(f"{path}: source {sid!r}: drift: {err}") from None
    if kind == "api" and not raw.get("paginator"):
        raise RegistryError(f"{path}: source {sid!r} is an API source: give its paginator")
    millesimes: dict[int, Millesime] = {}
    for key, val in (raw.get("millesimes") or {}).items():
        try:
            year = int(key)
        except (TypeError, ValueError):
            raise RegistryError(f"{path}: source {sid!r}: millésime {key!r} is not a year") from None
        if isinstance(val, str):
            val = {"url": val}
        if not val.get("url"):
            raise RegistryError(f"{path}: source {sid!r}: millésime {year} has no url")
        millesimes[year] = Millesime(
            year=year, url=str(val["url"]), published=val.get("published"), recording=val.get("recording"),
            rupture=str(val["rupture"]).strip() if val.get("rupture") else None,
        )
    return Source(
        id=sid,
        family=str(raw["family"]),
        publisher=str(raw["publisher"]),
        licence=str(raw["licence"]),
        format=str(raw["format"]),
        parser=str(raw["parser"]) if raw.get("parser") else None,
        kind=kind,
        paginator=raw.get("paginator"),
        rate_limit_per_minute=float(raw["rate_limit_per_minute"]) if raw.get("rate_limit_per_minute") else None,
        status=status,
        reason=raw.get("reason"),
        title=str(raw.get("title", "")),
        landing_page=raw.get("landing_page"),
        geography=raw.get("geography"),
        next_release=str(raw["next_release"]) if raw.get("next_release") else None,
        api_key_env=raw.get("api_key_env"),
        max_bytes=int(raw["max_bytes"]) if raw.get("max_bytes") else None,
        notes=str(raw.get("notes", "")),
        millesimes=millesimes,
        perimetre_url=str(raw["perimetre_url"]).strip() if raw.get("perimetre_url") else None,
        drift={str(k): v for k, v in drift.items()},
    )


def load_registry(path: Path | None = None) -> dict[str, Source]:
    """Read and check the registry; returns sources by id, in file order."""
    path = path or REGISTRY_PATH
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    sources: dict[str, Source] = {}
    for raw in doc.get("sources", []):
        src = _parse_source(raw, path)
        if src.id in sources:
            raise RegistryError(f"{path}: source id {src.id!r} appears twice")
        sources[src.id] = src
    return sources


def resolve_url(
    source: Source,
    millesime: int,
    mode: str,
    *,
    target_millesime: int | None = None,
    overrides: Mapping[str, str] | None = None,
    url_params: dict[str, str] | None = None,
) -> tuple[str, str]:
    """The URL to fetch for ``source`` / ``millesime`` and where it came from.

    Returns ``(url, origin)`` with origin one of ``override``, ``recording``, ``registry``. For an API source
    replayed in demo mode the URL is the publisher's (the cassette answers it, see :func:`recording_path`).
    ``target_millesime`` is the millésime being loaded (default: the latest); only that one takes the
    ``OBSERVATOIRE_URL_<ID>`` override (``overrides``, default the installed settings' ``url_overrides``). ``url_params`` (a perimeter other than the default one) fills the
    source's ``perimetre_url`` template instead of the millésime's URL, in both modes.
    """
    overrides = current().url_overrides if overrides is None else overrides
    if millesime not in source.millesimes:
        known = ", ".join(str(y) for y in sorted(source.millesimes)) or "none"
        raise ExtractError(source.id, f"unknown millésime {millesime}", expected=f"one of {known}")
    target = target_millesime if target_millesime is not None else source.latest_millesime
    override = overrides.get(source.env_override_name)
    if override and millesime == target:
        return override.strip(), "override"
    entry = source.millesimes[millesime]
    if url_params is not None and source.perimetre_url and (mode != "demo" or source.kind == "api"):
        # (demo mode: a file source's recording covers the recordings' whole territory, whatever the perimeter)
        try:
            url = source.perimetre_url.format(millesime=millesime, **url_params)
        except KeyError as err:
            raise ExtractError(source.id, f"perimetre_url needs the parameter {err.args[0]!r}",
                               expected=", ".join(sorted(url_params))) from None
        return url, ("recording" if mode == "demo" else "registry")
    if mode == "demo":
        if not entry.recording:
            raise ExtractError(
                source.id,
                f"no recording for millésime {millesime}: demo mode cannot replay this source",
                expected=f"a 'recording' entry in {REGISTRY_PATH.name}",
            )
        if source.kind == "api":
            return entry.url, "recording"
        return (RECORDINGS_DIR / entry.recording).resolve().as_uri(), "recording"
    return entry.url, "registry"


def recording_path(source: Source, millesime: int) -> Path:
    """The recording of a millésime: a file, or for an API source a cassette directory."""
    entry = source.millesimes[millesime]
    if not entry.recording:
        raise ExtractError(source.id, f"no recording for millésime {millesime}")
    return RECORDINGS_DIR / entry.recording
