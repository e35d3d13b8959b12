"""Abstention gap (``ecart_taux_abstention``): results by bureau de vote → abstention in each QPV vs the rest.

Three pure steps, described in French in ``docs/methodes.md`` (« Écart d'abstention »):

1. :func:`parse_resultats` reads a file of results by bureau de vote of the Ministère de l'Intérieur
   (data.gouv.fr, Licence Ouverte), in either layout:

   * **≤ 2022** (« large »): ``Code du département``, ``Code de la commune`` (3 digits, without the
     département), ``Code du b.vote``, ``Inscrits``, ``Abstentions``, ``Votants``… then one block of columns per
     candidate, the blocks after the first without a header name (rows are longer than the header);
   * **2024** (« nommé »): ``Code commune`` (the 5-character INSEE code), ``Code BV``, ``Inscrits``, ``Votants``,
     ``Abstentions``… candidate columns suffixed ``1``, ``2``… (``Voix 1``…).

   ``;``-separated, UTF-8 or Windows-1252/latin-1 (detected: :func:`extract.formats.decode`). Kept per bureau:
   ``code_commune`` (5 characters, text), ``code_bv`` (text, zeros kept), ``inscrits``, ``abstentions``,
   ``votants``. Refused with a :class:`~extract.errors.FormatError` naming file, line, column, expected and
   found: an unknown layout, a renamed or missing required column, a non-integer count, a bureau whose
   ``abstentions + votants ≠ inscrits``, a bureau twice. Rows of the Français établis hors de France
   (département ``ZZ``) are skipped: they have no commune.
2. :func:`part_bureau_qpv` (area overlap of the bureaux' contours with the QPV polygons) or
   :func:`part_bureau_qpv_adresses` (the bureaux' voter addresses, REU, falling in each QPV) gives each
   bureau's share in each QPV, and the QPV's share covered by each bureau.
3. :func:`ecart_abstention` apportions inscrits and abstentions to each QPV by those shares and compares the
   QPV's abstention rate with the rate of the rest of the Métropole (everything outside every QPV), in points.

**Election identity.** ``id_election`` = ``<année>_<type>_t<tour>`` (``2022_pres_t1``, ``2024_euro_t1``,
``2024_legi_t1``, ``2024_legi_t2``, ``2026_muni_t1``: the convention of data.gouv.fr's harmonised election
files). The millésime is the year; two elections of one year share it and are told apart by ``id_election``,
which the mart must carry next to the millésime.

**Marseille** (and Lyon, Paris): results are published for the commune (13055), never for an arrondissement
(13201–13216); bureaux are numbered within the commune (the arrondissement in the first two digits, e.g.
``0101``… ``1620``). The key is therefore ``(code_commune, code_bv)`` = ``13055_0101``: contours or REU
addresses coded by arrondissement must be brought back to 13055 (:func:`commune_de_rattachement`) before the
join, never the other way round.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely

from extract.errors import FormatError
from extract.formats import SNIFF_BYTES, decode, describe_kind, iter_lines, sniff_kind, sniff_separator

SOURCE_ID = "mi_resultats_bureaux_vote"
ID_ELECTION_RE = re.compile(r"^(?P<annee>\d{4})_(?P<type>pres|legi|euro|muni|regi|dpmt|cant|refe)_t(?P<tour>[12])$")
SEUIL_INSCRITS = 100.0
COUVERTURE_MIN = 0.9

#: published header names of the required columns, per layout
LAYOUTS: dict[str, dict[str, str]] = {
    "2017-2022": {
        "code_departement": "Code du département",
        "code_commune": "Code de la commune",
        "code_bv": "Code du b.vote",
        "inscrits": "Inscrits",
        "abstentions": "Abstentions",
        "votants": "Votants",
    },
    "2024": {
        "code_commune": "Code commune",
        "code_bv": "Code BV",
        "inscrits": "Inscrits",
        "abstentions": "Abstentions",
        "votants": "Votants",
    },
}
_LAYOUT_MARKERS = {"Code du b.vote": "2017-2022", "Code BV": "2024"}
#: overseas départements coded by letters in the ≤ 2022 files (INSEE code = first 2 digits + 3-digit commune)
DEP_OUTRE_MER = {"ZA": "971", "ZB": "972", "ZC": "973", "ZD": "974", "ZM": "976", "ZN": "988", "ZP": "987",
                 "ZS": "975", "ZW": "986", "ZX": "977"}
#: arrondissements → their commune
ARRONDISSEMENTS = {**{f"132{i:02d}": "13055" for i in range(1, 17)},
                   **{f"751{i:02d}": "75056" for i in range(1, 21)},
                   **{f"6938{i}": "69123" for i in range(1, 10)}}
_COUNT_RE = re.compile(r"^\d+$")
_SPACES = re.compile(r"[\s\u00a0\u202f]")

SCHEMA = pa.schema([
    ("id_election", pa.string()), ("millesime", pa.int32()), ("code_commune", pa.string()),
    ("code_bv", pa.string()), ("id_bv", pa.string()), ("inscrits", pa.int64()), ("abstentions", pa.int64()),
    ("votants", pa.int64()), ("_line", pa.int64()),
])


def millesime_de(id_election: str) -> int:
    """The year of an election id (``2024_legi_t2`` → 2024); ValueError on a malformed id."""
    m = ID_ELECTION_RE.match(id_election)
    if not m:
        raise ValueError(f"id_election {id_election!r}: expected <année>_<pres|legi|euro|muni|regi|dpmt|cant|refe>"
                         "_t<1|2>, e.g. 2024_legi_t1")
    return int(m.group("annee"))


def commune_de_rattachement(code: str) -> str:
    """The commune an arrondissement belongs to (13201 → 13055); other codes unchanged."""
    return ARRONDISSEMENTS.get(code, code)


def id_bv(code_commune: str, code_bv: str) -> str:
    """The bureau key ``13055_0101`` (the form of the bureaux de vote contours' ``id_bv``). A numeric bureau code
    is padded to 4 digits (``1`` → ``0001``) so that a file that dropped the zeros still joins."""
    code_bv = code_bv.strip()
    if code_bv.isdigit() and len(code_bv) < 4:
        code_bv = code_bv.zfill(4)
    return f"{commune_de_rattachement(code_commune)}_{code_bv}"


def parse_resultats(data: bytes, *, id_election: str, source_id: str = SOURCE_ID, file: str = "resultats.csv",
                    url: str | None = None) -> pa.Table:
    """One row per bureau de vote (see the module doc): ``id_election``, ``millesime``, ``code_commune``,
    ``code_bv``, ``id_bv``, ``inscrits``, ``abstentions``, ``votants``, ``_line``."""
    millesime = millesime_de(id_election)
    kind = sniff_kind(data[:SNIFF_BYTES])
    if kind != "text":
        raise FormatError(source_id, "not a delimited text file", url=url, file=file,
                          expected="results by bureau de vote (';'-separated text)", found=describe_kind(kind))
    text, _ = decode(data)
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    reader = csv.reader(iter_lines(text), delimiter=sniff_separator(first), quotechar='"')
    header = [h.strip() for h in next(reader)]
    layout = next((_LAYOUT_MARKERS[h] for h in header if h in _LAYOUT_MARKERS), None)
    if layout is None:
        raise FormatError(source_id, "unknown layout of results by bureau de vote: no bureau column", url=url,
                          file=file, line=1, column="Code du b.vote / Code BV",
                          expected="a column 'Code du b.vote' (≤ 2022) or 'Code BV' (2024)",
                          found="header " + ", ".join(repr(h) for h in header[:25]))
    index: dict[str, int] = {}
    for name, published in LAYOUTS[layout].items():
        if published not in header:
            raise FormatError(
                source_id, f"missing or renamed column {published!r}", url=url, file=file, line=1, column=published,
                expected=f"the {layout} layout's column {published!r} (for {name})",
                found="header " + ", ".join(repr(h) for h in header[:25]))
        if header.count(published) > 1:
            raise FormatError(source_id, f"column {published!r} appears twice", url=url, file=file, line=1,
                              column=published, expected="each required column once", found="twice")
        index[name] = header.index(published)
    width = max(index.values()) + 1
    cols: dict[str, list] = {f.name: [] for f in SCHEMA}
    seen: dict[str, int] = {}
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) < width:
            raise FormatError(source_id, "row too short", url=url, file=file, line=line,
                              expected=f"at least {width} fields", found=f"{len(fields)} fields")
        counts = {}
        for name in ("inscrits", "abstentions", "votants"):
            raw = fields[index[name]]
            s = _SPACES.sub("", raw)
            if not _COUNT_RE.match(s):
                raise FormatError(source_id, "count is not a non-negative integer", url=url, file=file, line=line,
                                  column=LAYOUTS[layout][name], expected="an integer count", found=repr(raw))
            counts[name] = int(s)
        if counts["abstentions"] + counts["votants"] != counts["inscrits"]:
            raise FormatError(
                source_id, "abstentions + votants ≠ inscrits", url=url, file=file, line=line,
                column=LAYOUTS[layout]["abstentions"],
                expected=f"Inscrits − Votants = {counts['inscrits'] - counts['votants']}",
                found=f"{counts['abstentions']} (Inscrits {counts['inscrits']}, Votants {counts['votants']})")
        commune = _code_commune(layout, fields, index, source_id=source_id, file=file, url=url, line=line)
        if commune is None:  # Français établis hors de France: no commune, no place in a QPV
            continue
        bv = fields[index["code_bv"]].strip()
        if not bv:
            raise FormatError(source_id, "empty bureau code", url=url, file=file, line=line,
                              column=LAYOUTS[layout]["code_bv"], expected="a bureau code, e.g. 0101", found="''")
        key = id_bv(commune, bv)
        if key in seen:
            raise FormatError(source_id, f"bureau {key} appears twice", url=url, file=file, line=line,
                              expected="one row per bureau de vote", found=f"also on line {seen[key]}")
        seen[key] = line
        cols["id_election"].append(id_election)
        cols["millesime"].append(millesime)
        cols["code_commune"].append(commune)
        cols["code_bv"].append(bv)
        cols["id_bv"].append(key)
        for name, v in counts.items():
            cols[name].append(v)
        cols["_line"].append(line)
    return pa.table(cols, schema=SCHEMA)


def _code_commune(layout: str, fields: list[str], index: dict[str, int], *, source_id: str, file: str,
                  url: str | None, line: int) -> str | None:
    raw = fields[index["code_commune"]].strip()
    dep_raw = fields[index["code_departement"]].strip().upper() if "code_departement" in index else ""
    if dep_raw == "ZZ" or raw.upper().startswith("ZZ"):
        return None
    if layout == "2024":
        code = raw.zfill(5) if raw.isdigit() and len(raw) == 4 else raw.upper()
        column = LAYOUTS[layout]["code_commune"]
    else:
        dep = fields[index["code_departement"]].strip().upper()
        dep = DEP_OUTRE_MER.get(dep, dep)
        dep = dep.zfill(2) if dep.isdigit() and len(dep) < 2 else dep
        com = raw.zfill(3) if raw.isdigit() else raw
        code = (dep[:2] + com) if len(dep) == 3 else dep + com
        column = LAYOUTS[layout]["code_commune"]
    if not re.fullmatch(r"(\d{2}|2A|2B)\d{3}", code):
        raise FormatError(source_id, "not a commune code", url=url, file=file, line=line, column=column,
                          expected="an INSEE commune code (5 characters, e.g. 13055; ≤ 2022: 3 digits + the "
                          "département)", found=repr(raw))
    return code


# -- bureau ↔ QPV shares ---------------------------------------------------------------------------------------

PARTS_SCHEMA = pa.schema([("id_bv", pa.string()), ("code_qpv", pa.string()), ("part_bureau", pa.float64()),
                          ("part_qpv", pa.float64())])


def part_bureau_qpv(bureaux_ids: Sequence[str], bureaux_polygons: Sequence[shapely.Geometry],
                    qpv_codes: Sequence[str], qpv_polygons: Sequence[shapely.Geometry]) -> pa.Table:
    """Each bureau's share in each QPV by area overlap. Both polygon sets in one metric CRS (EPSG:2154 or 3035;
    reproject WGS84 contours first). ``part_bureau`` = area(bureau ∩ QPV) / area(bureau); ``part_qpv`` =
    area(bureau ∩ QPV) / area(QPV). Pairs with no overlap are absent."""
    bv = np.asarray(bureaux_polygons, dtype=object)
    qp = np.asarray(qpv_polygons, dtype=object)
    ids = np.asarray(bureaux_ids, dtype=object)
    codes = np.asarray(qpv_codes, dtype=object)
    if len(bv) != len(ids) or len(qp) != len(codes):
        raise ValueError("ids and polygons differ in length")
    bv = np.array([g if shapely.is_valid(g) else shapely.make_valid(g) for g in bv], dtype=object)
    qp = np.array([g if shapely.is_valid(g) else shapely.make_valid(g) for g in qp], dtype=object)
    if not len(bv) or not len(qp):
        return PARTS_SCHEMA.empty_table()
    b_idx, q_idx = shapely.STRtree(bv).query(qp, predicate="intersects")[::-1]
    inter = shapely.area(shapely.intersection(bv[b_idx], qp[q_idx]))
    keep = inter > 0
    b_idx, q_idx, inter = b_idx[keep], q_idx[keep], inter[keep]
    order = np.lexsort((codes[q_idx].astype(str), ids[b_idx].astype(str)))
    b_idx, q_idx, inter = b_idx[order], q_idx[order], inter[order]
    return pa.table({
        "id_bv": pa.array(ids[b_idx].tolist(), pa.string()),
        "code_qpv": pa.array(codes[q_idx].tolist(), pa.string()),
        "part_bureau": pa.array(inter / shapely.area(bv[b_idx]), pa.float64()),
        "part_qpv": pa.array(inter / shapely.area(qp[q_idx]), pa.float64()),
    }, schema=PARTS_SCHEMA)


def part_bureau_qpv_adresses(bureau_des_adresses: Sequence[str], code_qpv_des_adresses: Sequence[str | None],
                             poids: Sequence[float] | None = None) -> pa.Table:
    """Each bureau's share in each QPV from its voters' address points (REU ``table-adresses-reu``):
    ``bureau_des_adresses`` the bureau key of each address (:func:`id_bv`), ``code_qpv_des_adresses`` the QPV
    that contains it (e.g. :func:`extract.spatial.QpvIndex.lookup` on its lon/lat; None outside), ``poids`` the
    number of voter addresses at the point (``nb_adresses``; default 1). ``part_bureau`` = weight of the bureau's
    addresses in the QPV / all its addresses; ``part_qpv`` = the same over all the QPV's addresses."""
    bvs = np.asarray(bureau_des_adresses, dtype=object).astype(str)
    qpv = np.asarray([c if c else "" for c in code_qpv_des_adresses], dtype=object).astype(str)
    w = np.ones(len(bvs)) if poids is None else np.asarray(poids, dtype=np.float64)
    if not (len(bvs) == len(qpv) == len(w)):
        raise ValueError("address arrays differ in length")
    bv_u, bv_inv = np.unique(bvs, return_inverse=True)
    tot_bv = np.bincount(bv_inv, weights=w, minlength=len(bv_u))
    inq = qpv != ""
    if not inq.any():
        return PARTS_SCHEMA.empty_table()
    q_u, q_inv = np.unique(qpv[inq], return_inverse=True)
    tot_q = np.bincount(q_inv, weights=w[inq], minlength=len(q_u))
    pair = bv_inv[inq] * len(q_u) + q_inv
    p_u, p_inv = np.unique(pair, return_inverse=True)
    wp = np.bincount(p_inv, weights=w[inq], minlength=len(p_u))
    b, q = p_u // len(q_u), p_u % len(q_u)
    return pa.table({"id_bv": bv_u[b].tolist(), "code_qpv": q_u[q].tolist(),
                     "part_bureau": wp / tot_bv[b], "part_qpv": wp / tot_q[q]}, schema=PARTS_SCHEMA)


# -- the gap ---------------------------------------------------------------------------------------------------

ECART_SCHEMA = pa.schema([
    ("id_election", pa.string()), ("millesime", pa.int32()), ("code_qpv", pa.string()),
    ("inscrits_qpv", pa.float64()), ("abstentions_qpv", pa.float64()), ("taux_abstention_qpv", pa.float64()),
    ("taux_abstention_hors_qpv", pa.float64()), ("ecart_points", pa.float64()), ("couverture", pa.float64()),
    ("motif", pa.string()),
])


@dataclass(frozen=True)
class Reference:
    """The rest of the Métropole: inscrits and abstentions apportioned outside every QPV."""

    inscrits: float
    abstentions: float
    bureaux_trouves: int
    bureaux_perimetre: int

    @property
    def taux(self) -> float | None:
        return self.abstentions / self.inscrits if self.inscrits > 0 else None


def ecart_abstention(results: pa.Table, shares: pa.Table, perimeter_bureaux: Iterable[str] | None = None, *,
                     qpv_codes: Iterable[str] | None = None, seuil_inscrits: float = SEUIL_INSCRITS,
                     couverture_min: float = COUVERTURE_MIN) -> tuple[pa.Table, Reference]:
    """Abstention gap per QPV, in percentage points: (abstention rate in the QPV) − (rate in the rest of the
    Métropole).

    ``results``: :func:`parse_resultats` (one election). ``shares``: :func:`part_bureau_qpv` or
    :func:`part_bureau_qpv_adresses`. ``perimeter_bureaux``: the ``id_bv`` of the Métropole's bureaux (None:
    every bureau of ``results``). In the QPV: Σ part_bureau × inscrits and Σ part_bureau × abstentions over the
    bureaux found in the results. Rest of the Métropole: Σ (1 − Σ_q part_bureau) × the same, over the perimeter's
    bureaux found in the results. ``couverture`` = Σ part_qpv over the QPV's bureaux found in the results (the
    share of the QPV, by area or addresses, whose bureau has a result). Withheld (values NULL, French ``motif``)
    when the apportioned inscrits are below ``seuil_inscrits`` or the coverage below ``couverture_min``.
    ``qpv_codes``: QPV to report even when no bureau touches them.
    """
    ids = results.column("id_bv").to_pylist()
    ins = np.asarray(results.column("inscrits").to_numpy(zero_copy_only=False), dtype=np.float64)
    abs_ = np.asarray(results.column("abstentions").to_numpy(zero_copy_only=False), dtype=np.float64)
    elections = set(results.column("id_election").to_pylist())
    if len(elections) > 1:
        raise ValueError(f"results of several elections at once: {sorted(elections)}")
    id_election = elections.pop() if elections else None
    millesime = millesime_de(id_election) if id_election else None
    pos = {b: i for i, b in enumerate(ids)}

    perim = list(pos) if perimeter_bureaux is None else list(dict.fromkeys(perimeter_bureaux))
    s_bv = shares.column("id_bv").to_pylist()
    s_q = shares.column("code_qpv").to_pylist()
    s_pb = np.asarray(shares.column("part_bureau").to_pylist(), dtype=np.float64)
    s_pq = np.asarray(shares.column("part_qpv").to_pylist(), dtype=np.float64)
    s_pos = np.array([pos.get(b, -1) for b in s_bv], dtype=np.int64)
    found = s_pos >= 0

    # rest of the Métropole
    in_qpv_share = np.zeros(len(ids))
    np.add.at(in_qpv_share, s_pos[found], s_pb[found])
    p_idx = np.array([pos[b] for b in perim if b in pos], dtype=np.int64)
    rest_w = np.clip(1.0 - in_qpv_share[p_idx], 0.0, 1.0)
    ref = Reference(float((rest_w * ins[p_idx]).sum()), float((rest_w * abs_[p_idx]).sum()), len(p_idx), len(perim))

    codes = sorted(set(s_q) | set(qpv_codes or ()))
    cols: dict[str, list] = {f.name: [] for f in ECART_SCHEMA}
    for code in codes:
        m = np.array([q == code for q in s_q], dtype=bool) if s_q else np.zeros(0, dtype=bool)
        mf = m & found
        i_q = float((s_pb[mf] * ins[s_pos[mf]]).sum())
        a_q = float((s_pb[mf] * abs_[s_pos[mf]]).sum())
        couv = float(s_pq[mf].sum()) if m.any() else 0.0
        motif = None
        if not m.any():
            motif = "aucun bureau de vote ne recoupe le quartier"
        elif couv < couverture_min:
            motif = (f"couverture insuffisante : {100 * couv:.0f} % du quartier dans des bureaux de vote dont les "
                     f"résultats sont connus (minimum {100 * couverture_min:.0f} %)")
        elif i_q < seuil_inscrits:
            motif = f"moins de {seuil_inscrits:g} inscrits rattachés au quartier ({i_q:.0f})"
        elif ref.taux is None:
            motif = "aucun inscrit hors QPV dans le périmètre : pas de référence"
        t_q = a_q / i_q if i_q > 0 else None
        ok = motif is None
        cols["id_election"].append(id_election)
        cols["millesime"].append(millesime)
        cols["code_qpv"].append(code)
        cols["inscrits_qpv"].append(i_q)
        cols["abstentions_qpv"].append(a_q)
        cols["taux_abstention_qpv"].append(100 * t_q if ok else None)
        cols["taux_abstention_hors_qpv"].append(100 * ref.taux if ref.taux is not None else None)
        cols["ecart_points"].append(100 * (t_q - ref.taux) if ok else None)
        cols["couverture"].append(couv)
        cols["motif"].append(motif)
    return pa.table(cols, schema=ECART_SCHEMA), ref


HORS_QPV_SCHEMA = pa.schema([
    ("id_election", pa.string()), ("millesime", pa.int32()), ("code_commune", pa.string()),
    ("inscrits_hors_qpv", pa.float64()), ("abstentions_hors_qpv", pa.float64()), ("bureaux", pa.int64()),
])


def hors_qpv_par_commune(results: pa.Table, shares: pa.Table) -> pa.Table:
    """Inscrits and abstentions of each commune **outside every QPV**: each bureau weighted by
    ``1 − Σ_q part_bureau`` (the same weights as the reference of :func:`ecart_abstention`), summed by commune.

    Summed over the communes of any perimeter, these give that perimeter's reference (the rest of the territory,
    outside every QPV) without recomputing the shares: the observatory's perimeter is chosen in dbt."""
    ids = results.column("id_bv").to_pylist()
    elections = set(results.column("id_election").to_pylist())
    if len(elections) > 1:
        raise ValueError(f"results of several elections at once: {sorted(elections)}")
    id_election = elections.pop() if elections else None
    pos = {b: i for i, b in enumerate(ids)}
    in_qpv = np.zeros(len(ids))
    for b, p in zip(shares.column("id_bv").to_pylist(), shares.column("part_bureau").to_pylist(), strict=True):
        i = pos.get(b)
        if i is not None:
            in_qpv[i] += float(p)
    w = np.clip(1.0 - in_qpv, 0.0, 1.0)
    ins = np.asarray(results.column("inscrits").to_numpy(zero_copy_only=False), dtype=np.float64)
    abs_ = np.asarray(results.column("abstentions").to_numpy(zero_copy_only=False), dtype=np.float64)
    communes = np.asarray(results.column("code_commune").to_pylist(), dtype=object).astype(str)
    if not len(communes):
        return HORS_QPV_SCHEMA.empty_table()
    codes, inv = np.unique(communes, return_inverse=True)
    return pa.table({
        "id_election": [id_election] * len(codes),
        "millesime": [millesime_de(id_election)] * len(codes),
        "code_commune": codes.tolist(),
        "inscrits_hors_qpv": np.bincount(inv, weights=w * ins, minlength=len(codes)),
        "abstentions_hors_qpv": np.bincount(inv, weights=w * abs_, minlength=len(codes)),
        "bureaux": np.bincount(inv, minlength=len(codes)).astype(np.int64),
    }, schema=HORS_QPV_SCHEMA)
