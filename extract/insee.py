"""INSEE per-QPV files (« Données sur les quartiers 2024 de la politique de la ville »).

Conventions of these files (see docs/sources.md): ``;`` separator, decimal comma, thousands with a
(narrow) no-break space, UTF-8 with or without BOM (older files Windows-1252), headers sometimes quoted,
camelCase or UPPERCASE names that change between millésimes, secret cells blank, ZIPs holding
``data_*.csv`` next to ``meta_*.csv``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from extract.formats import csv_bytes_from, read_delimited
from extract.parsers import ParseContext, Parser
from extract.tables import Column, TableSpec, parse_rows

QPV_CODE = Column("code_qpv", ("codeQPV", "CODGEO", "CodGeo", "code_qp", "code_qpv"))
QPV_LIB = Column("libelle_qpv", ("libQPV", "LIBGEO", "lib_qp", "nom_qp"), required=False)

#: pop_QPV24: population municipale of each QPV 2024 (recensement), INSEE page 8210600
POP_QPV = TableSpec(
    name="insee_pop_qpv",
    columns=(
        QPV_CODE,
        QPV_LIB,
        Column("liste_code_commune", ("listeDepCom", "LIST_COM", "insee_com"), required=False),
        Column("liste_libelle_commune", ("listeLibDepCom", "LIB_COM", "lib_com"), required=False),
        Column("liste_code_epci", (), required=False, alias_pattern=r"^(liste_?epci(\d{4})?|siren_epci)$"),
        Column("liste_code_departement", ("listeDep", "DEP"), required=False),
        Column("code_region", ("codeReg", "REG"), required=False),
        Column("code_unite_urbaine", (), required=False, alias_pattern=r"^codeUU\d{4}$"),
        Column("population", ("popMuniQPV", "POP_MUN", "popMuni", "PMUN"), type="number",
               kind="count", indicateur="population", secret_allowed=False),
        Column("part_15_24_ans", ("partPop15_24", "TX_TOT_15A24", "part_pop_15_24"), type="number",
               required=False, kind="rate", indicateur="part_15_24_ans", zero_is_suspect=True),
    ),
    skip_codes=("ensemble", "total", "00"),
)


def _parse_csv_table(spec: TableSpec, member_pattern: str):
    def parse(path: Path, ctx: ParseContext) -> Iterator[pa.RecordBatch]:
        data, name = csv_bytes_from(path, source_id=ctx.source_id, url=ctx.url, member_pattern=member_pattern,
                                     file=ctx.file)
        shown = ctx.file if name == path.name else f"{ctx.file}!{name}"
        table = read_delimited(data, source_id=ctx.source_id, file=shown, url=ctx.url)
        yield from parse_rows(table, spec, source_id=ctx.source_id, millesime=ctx.millesime, file=shown,
                              url=ctx.url)

    return parse


PARSERS = [
    Parser("insee_pop_qpv", POP_QPV, _parse_csv_table(POP_QPV, r"^(data_)?pop.*qp.*\.csv$")),
]
