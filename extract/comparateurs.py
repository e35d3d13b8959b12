"""Comparators outside the QPV: communes, EPCI, départements, France.

* ``insee_melodi``: INSEE Melodi API (``/melodi/data/{DS}``), landed as a ZIP of JSON pages (see
  :mod:`extract.apis`) → one long table, one row per observation: ``niveau_geo`` / ``code_geo`` /
  ``millesime_geo`` split out of ``GEO`` (``"2025-COM-13055"`` → ``COM``, ``13055``, ``2025``), ``time_period``,
  ``mesure`` (the other dimensions, ``NAME=value`` sorted by name and joined by ``|``, e.g.
  ``POPREF_MEASURE=PMUN`` or ``FILOSOFI_MEASURE=MED_SL|UNIT_MEASURE=EUR_YR``) and ``valeur`` (the first measure,
  ``OBS_VALUE_NIVEAU`` or another ``OBS_VALUE_*``). A withheld value (``value`` null or absent, e.g. with
  ``CONF_STATUS`` = ``C``) is NULL and listed in ``_secret``. ``_line`` = page × 1 000 000 + rank of the
  observation in its page (1-based), so a message can point at the page of the archive.
* ``dares_defm``: DARES « demandeurs d'emploi par commune, données brutes trimestrielles », Opendatasoft CSV
  export with labels. The ``Total`` rows (national cumuls, « Non localisés ») are dropped; Paris, Lyon and
  Marseille are published as the commune **and** its arrondissements: ``est_arrondissement`` flags the latter,
  the two must never be summed together.
* ``caf_communes``: data.caf.fr ``s_ben_com_f`` CSV export (field names). Rows with an empty ``numcomdo``
  (allocataires not located in a commune) or a masked code are dropped; Paris, Lyon and Marseille are published
  as their arrondissements only (``est_arrondissement``; the commune is their sum).

The CSV parsers keep the rows of the millésime only (``Date`` ``<millésime>-Tn``, ``dtreffre``
``<millésime>-MM``) and fail when the file holds none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from extract.apis import batches_from_records, iter_pages
from extract.errors import FormatError
from extract.formats import csv_bytes_from, read_delimited
from extract.parsers import ParseContext, Parser
from extract.tables import ARROW_TYPES, SECRET_MARKERS, Column, TableSpec, parse_rows

#: arrondissements municipaux of Paris (75101-75120), Lyon (69381-69389) and Marseille (13201-13216)
ARRONDISSEMENT_RE = r"^(751(0[1-9]|1\d|20)|6938[1-9]|132(0[1-9]|1[0-6]))$"
COMMUNE_CODE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


@dataclass(frozen=True)
class TypedSpec(TableSpec):
    """A :class:`TableSpec` whose columns may also be of type ``boolean`` (derived flags)."""

    def arrow_schema(self) -> pa.Schema:
        types = {**ARROW_TYPES, "boolean": pa.bool_()}
        fields = [pa.field(c.name, types[c.type]) for c in self.columns]
        fields += [pa.field("millesime", pa.int32()), pa.field("_line", pa.int64()),
                   pa.field("_secret", pa.list_(pa.string()))]
        return pa.schema(fields)


# ====================================================================================================
# INSEE Melodi
# ====================================================================================================

MELODI = TableSpec(
    name="insee_melodi",
    columns=(
        Column("niveau_geo"),  # COM, EPCI, DEP, REG, FRANCE, ARM, IRIS… as published
        Column("code_geo"),  # "13055", "200054807", "13", "F"
        Column("millesime_geo", required=False),  # geography vintage prefix of GEO, e.g. "2025"
        Column("time_period", type="integer"),
        Column("mesure"),  # "POPREF_MEASURE=PMUN", "FILOSOFI_MEASURE=MED_SL|UNIT_MEASURE=EUR_YR"
        Column("valeur", type="number"),
        Column("mesure_code", required=False),  # value of the *_MEASURE dimension: PMUN, MED_SL, PR_MD60
        Column("unite", required=False),  # UNIT_MEASURE when the dataset has it (EUR_YR, PT…)
        Column("statut_obs", required=False),  # attribute OBS_STATUS (A = normal…)
        Column("statut_confidentialite", required=False),  # attribute CONF_STATUS (F = free, C = confidential)
        Column("jeu_de_donnees", required=False),  # the dataset identifier, DS_…
    ),
    key=("niveau_geo", "code_geo", "time_period", "mesure"),
    geography="multi",
    qpv_column=None,
    qpv_required=False,
    covers_all_qpv=False,
)

_GEO_RE = re.compile(r"^(?:(\d{4})-)?([A-Z][A-Z0-9_]*)-(.+)$")
_SKIP_DIMENSIONS = {"GEO", "TIME_PERIOD", "FREQ"}


def _melodi_value(raw, *, source_id: str, url: str, where: str) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    text = str(raw).strip()
    if text.lower() in SECRET_MARKERS:
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise FormatError(source_id, f"observation value is not a number ({where})", url=url,
                          expected="a number, null or a secret marker", found=repr(raw)) from None


def parse_melodi(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
    sid = ctx.source_id

    def records():
        announced = None
        seen = 0
        for page_no, (url, doc) in enumerate(iter_pages(path, source_id=sid), start=1):
            obs_list = doc.get("observations")
            if not isinstance(obs_list, list):
                raise FormatError(sid, f"page {page_no} has no 'observations' list", url=url, file=ctx.file,
                                  expected="a Melodi /data page {identifier, observations, paging}",
                                  found="keys " + ", ".join(sorted(doc)))
            count = (doc.get("paging") or {}).get("count")
            if isinstance(count, int):
                announced = count
            dataset = doc.get("identifier")
            for rank, obs in enumerate(obs_list, start=1):
                where = f"page {page_no}, observation {rank}"
                dims = obs.get("dimensions") if isinstance(obs, dict) else None
                if not isinstance(dims, dict) or "GEO" not in dims or "TIME_PERIOD" not in dims:
                    raise FormatError(sid, f"observation without GEO / TIME_PERIOD ({where})", url=url,
                                      file=ctx.file, expected="dimensions {GEO, TIME_PERIOD, …}",
                                      found=repr(obs)[:200])
                m = _GEO_RE.match(str(dims["GEO"]))
                if not m:
                    raise FormatError(sid, f"unexpected GEO ({where})", url=url, file=ctx.file,
                                      expected='"<vintage>-<LEVEL>-<code>", e.g. "2025-COM-13055"',
                                      found=repr(dims["GEO"]))
                period = str(dims["TIME_PERIOD"]).strip()
                if not period.isdigit():
                    raise FormatError(sid, f"TIME_PERIOD is not a year ({where})", url=url, file=ctx.file,
                                      expected="a year (annual dataset)", found=repr(period))
                others = sorted((k, str(v)) for k, v in dims.items() if k not in _SKIP_DIMENSIONS)
                measures = obs.get("measures") or {}
                raw = None
                if measures:
                    first = next(iter(measures.values()))
                    raw = first.get("value") if isinstance(first, dict) else first
                value = _melodi_value(raw, source_id=sid, url=url, where=where)
                attrs = obs.get("attributes") or {}
                measure_code = next((v for k, v in others if k.endswith("_MEASURE") and k != "UNIT_MEASURE"), None)
                values = {
                    "niveau_geo": m.group(2), "code_geo": m.group(3), "millesime_geo": m.group(1),
                    "time_period": int(period), "mesure": "|".join(f"{k}={v}" for k, v in others),
                    "valeur": value, "mesure_code": measure_code, "unite": dims.get("UNIT_MEASURE"),
                    "statut_obs": attrs.get("OBS_STATUS"), "statut_confidentialite": attrs.get("CONF_STATUS"),
                    "jeu_de_donnees": dataset,
                }
                seen += 1
                yield page_no * 1_000_000 + rank, values, ([] if value is not None else ["valeur"])
        if announced is not None and seen != announced:
            raise FormatError(sid, "the pages do not hold every observation announced", file=ctx.file,
                              url=ctx.url, expected=f"{announced} observations (paging.count)",
                              found=f"{seen} observations")

    yield from batches_from_records(records(), MELODI.arrow_schema(), ctx.millesime)


# ====================================================================================================
# DARES — demandeurs d'emploi par commune (Opendatasoft export, labels)
# ====================================================================================================

DARES_DEFM = TypedSpec(
    name="dares_defm_communes",
    columns=(
        Column("code_commune", ("Code commune", "code_commune")),
        Column("trimestre", ("Date", "date")),  # "2024-T4"
        Column("libelle_commune", ("Commune", "commune", "libelle_commune"), required=False),
        Column("code_departement", ("Code département", "code_departement")),
        Column("libelle_departement", ("Département", "departement"), required=False),
        Column("type_donnees", ("Type de données", "type_de_donnees"), required=False),  # "Brutes"
        Column("categorie", ("Catégorie", "categorie")),  # "ABC"
        Column("sexe", ("Sexe",)),  # Total / Hommes / Femmes
        Column("tranche_age", ("Tranche d'âge", "tranche_d_age")),  # Total / Moins de 25 ans / …
        Column("demandeurs_emploi", ("Nombre de demandeurs d'emploi", "nombre_de_demandeurs_d_emploi"),
               type="number", kind="count"),
        Column("est_arrondissement", type="boolean", required=False),  # derived from code_commune
    ),
    key=("code_commune", "trimestre", "categorie", "sexe", "tranche_age"),
    skip_codes=("total",),  # « Total France métropolitaine », « Non localisés »
    geography="commune",
    qpv_column=None,
    qpv_required=False,
    covers_all_qpv=False,
)

# ====================================================================================================
# CAF — Toutes prestations [Communal] (data.caf.fr s_ben_com_f, Opendatasoft export, field names)
# ====================================================================================================

CAF_COMMUNES = TypedSpec(
    name="caf_communes",
    columns=(
        Column("code_commune", ("numcomdo", "Code commune")),
        Column("date_reference", ("dtreffre", "Date de référence")),  # "2024-12"
        Column("libelle_commune", ("nomcom", "Nom commune"), required=False),
        Column("allocataires", ("indfoy_ndur", "Nombre foyers NDUR"), type="number", kind="count"),
        Column("personnes_couvertes", ("indnbp_ndur",), type="number", kind="count"),
        Column("allocataires_rsa", ("indfoy_rsa",), type="number", kind="count"),
        Column("allocataires_prime_activite", ("indfoy_ppa",), type="number", kind="count"),
        Column("allocataires_aide_logement", ("indfoy_ndural",), type="number", kind="count"),
        Column("allocataires_apl", ("indfoy_apl",), type="number", kind="count", required=False),
        Column("allocataires_als", ("indfoy_als",), type="number", kind="count", required=False),
        Column("allocataires_alf", ("indfoy_alf",), type="number", kind="count", required=False),
        Column("est_arrondissement", type="boolean", required=False),  # derived from code_commune
    ),
    key=("code_commune", "date_reference"),
    skip_codes=("",),  # empty numcomdo: allocataires not located in a commune
    geography="commune",
    qpv_column=None,
    qpv_required=False,
    covers_all_qpv=False,
)


def _commune_table_parser(spec: TypedSpec, date_column: str, member_pattern: str):
    """A CSV parser keeping the millésime's rows, dropping non-commune codes, flagging arrondissements."""

    def parse(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
        data, name = csv_bytes_from(path, source_id=ctx.source_id, url=ctx.url, member_pattern=member_pattern,
                                     file=ctx.file)
        shown = ctx.file if name == path.name else f"{ctx.file}!{name}"
        table = read_delimited(data, source_id=ctx.source_id, file=shown, url=ctx.url)
        schema = spec.arrow_schema()
        kept = 0
        years: set[str] = set()
        prefix = f"{ctx.millesime}-"
        for batch in parse_rows(table, spec, source_id=ctx.source_id, millesime=ctx.millesime, file=shown,
                                url=ctx.url):
            dates = batch.column(date_column)
            years.update(d[:4] for d in dates.to_pylist() if d)
            codes = batch.column("code_commune")
            mask = pc.and_(pc.fill_null(pc.starts_with(dates, prefix), False),
                           pc.fill_null(pc.match_substring_regex(codes, COMMUNE_CODE_RE.pattern), False))
            batch = batch.filter(mask)
            if not batch.num_rows:
                continue
            flags = pc.match_substring_regex(batch.column("code_commune"), ARRONDISSEMENT_RE)
            arrays = [flags if f.name == "est_arrondissement" else batch.column(f.name) for f in schema]
            kept += batch.num_rows
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        if not kept:
            raise FormatError(ctx.source_id, f"no row of millésime {ctx.millesime}", file=shown, url=ctx.url,
                              expected=f"rows whose {date_column} starts with {prefix!r}",
                              found="years " + (", ".join(sorted(years)) or "none"))

    return parse


PARSERS = [
    Parser("insee_melodi", MELODI, parse_melodi),
    Parser("dares_defm", DARES_DEFM, _commune_table_parser(DARES_DEFM, "trimestre", r"\.csv$")),
    Parser("caf_communes", CAF_COMMUNES, _commune_table_parser(CAF_COMMUNES, "date_reference", r"\.csv$")),
]
