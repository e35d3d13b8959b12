"""Recordings of the INSEE per-QPV 2024 files (Filosofi, estimations, DEFM, CAF, RPLS) and of the BPE:
the publishers' layout (ZIP members, file names, ``;`` separator, decimal comma, thousands written with a
narrow no-break space, BOM/CRLF on some, header spellings that change between millésimes) with
**synthetic values** seeded by (source, QPV code, millésime).

Each ``*_published`` function returns a QPV's row as published (variable → value, ``None`` for a blank
cell); each ``*_expected`` function returns the canonical values the parser must produce from it. Tests
compare the parsed recordings with the ``*_expected`` functions.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

from tests.recordings import generate
from tests.recordings.generate import fr, population, rng, territoires

NNBSP = "\u202f"  # narrow no-break space: INSEE's thousands separator in Excel-derived CSV


# -- writing helpers ---------------------------------------------------------------------------------------

def _num(v, *, digits: int = 0, thousands: str = "", trim: bool = False) -> str:
    """A value the way INSEE writes it: blank for None, decimal comma, optional thousands separator,
    ``6`` rather than ``6,0`` when ``trim``."""
    if v is None:
        return ""
    if digits == 0:
        n = int(v)
        return f"{n:,}".replace(",", thousands) if thousands else str(n)
    s = fr(v, digits)
    if trim and s.endswith("," + "0" * digits):
        s = s[: -(digits + 1)]
    if thousands:
        whole, _, dec = s.partition(",")
        sign = "-" if whole.startswith("-") else ""
        whole = f"{int(whole.lstrip('-')):,}".replace(",", thousands)
        s = sign + whole + ("," + dec if dec else "")
    return s


def _quote(v: str, sep: str) -> str:
    if sep in v or '"' in v or "\n" in v:
        return '"' + v.replace('"', '""') + '"'
    return v


def _csv(header: list[str], rows: list[list[str]], *, sep: str = ";", bom: bool = False, newline: str = "\n",
         quote_header: bool = False) -> bytes:
    head = sep.join(f'"{h}"' if quote_header else h for h in header)
    lines = [head] + [sep.join(_quote(v, sep) for v in r) for r in rows]
    return (("\ufeff" if bom else "") + newline.join(lines) + newline).encode("utf-8")


def _zip(dest: Path, members: list[tuple[str, bytes]], date_time: tuple[int, ...]) -> Path:
    """A deterministic ZIP (fixed dates and attributes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data, compresslevel=6)
    dest.write_bytes(buf.getvalue())
    return dest


def _write(dest: Path, data: bytes) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


def _meta(variables: list[tuple[str, str]], *, with_codes: bool = True) -> bytes:
    """INSEE's ``meta_`` layout: one row per variable, and one row per modality of CODGEO."""
    rows = []
    for var, lib in variables:
        if var == "CODGEO" and with_codes:
            for t in territoires():
                rows.append([var, lib, t["code_qp"], t["lib_qp"]])
        else:
            rows.append([var, lib, "", ""])
    return _csv(["COD_VAR", "LIB_VAR", "COD_MOD", "LIB_MOD"], rows)


def codes() -> list[str]:
    return [t["code_qp"] for t in territoires()]


def is_amp(code: str) -> bool:
    return any(t["code_qp"] == code and t["siren_epci"] == "200054807" for t in territoires())


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _blank_small(row: dict, keys, threshold: int = 5) -> dict:
    """INSEE blanks small counts (secret statistique): a count below ``threshold`` is never published."""
    return {k: (None if (k in keys and v is not None and v < threshold) else v) for k, v in row.items()}


# -- 1. Filosofi: revenus_pauvrete_<year>_qp24 ---------------------------------------------------------------

FILO_VARS = ("Q1", "MED", "Q3", "EQ", "D1", "D2", "D3", "D4", "D6", "D7", "D8", "D9", "RD", "GINI", "S80S20",
             "PACT", "PCHO", "PPEN", "PPAT", "PPSOC", "PPFAM", "PPMINI", "PPLOGT", "PIMPOT", "TP60", "NOTE")
FILO_INCOMES = ("Q1", "MED", "Q3", "D1", "D2", "D3", "D4", "D6", "D7", "D8", "D9")
FILO_CANONICAL = {"revenu_q1": "Q1", "revenu_median": "MED", "revenu_q3": "Q3", "revenu_d1": "D1",
                  "revenu_d9": "D9", "rapport_interdecile": "RD", "part_prestations_sociales": "PPSOC",
                  "taux_pauvrete": "TP60", "note": "NOTE"}
#: ZIP and member names by millésime (2021 is the « _v2 » republication)
FILO_FILES = {2021: "revenus_pauvrete_2021_qp24_v2_csv.zip", 2022: "revenus_pauvrete_2022_qp24_csv.zip"}


def _r10(x: float) -> int:
    return int(round(x / 10.0)) * 10


def _filosofi_values(level: float, r) -> dict:
    med = _r10(level)
    q1, q3 = _r10(med * r.uniform(0.74, 0.80)), _r10(med * r.uniform(1.30, 1.42))
    d1, d9 = _r10(med * r.uniform(0.50, 0.60)), _r10(med * r.uniform(1.75, 2.10))
    v = {"Q1": q1, "MED": med, "Q3": q3, "D1": d1, "D9": d9,
         "D2": _r10(d1 + (q1 - d1) * 0.6), "D3": _r10(q1 + (med - q1) * 0.3), "D4": _r10(q1 + (med - q1) * 0.7),
         "D6": _r10(med + (q3 - med) * 0.45), "D7": _r10(med + (q3 - med) * 0.85),
         "D8": _r10(q3 + (d9 - q3) * 0.3)}
    v["EQ"] = round((q3 - q1) / med, 2)
    v["RD"] = round(d9 / d1, 1)
    v["GINI"] = round(r.uniform(0.26, 0.34), 3)
    v["S80S20"] = round(r.uniform(3.5, 5.5), 1)
    ppsoc = round(r.uniform(12.0, 30.0), 1)
    ppfam, ppmini = round(ppsoc * 0.25, 1), round(ppsoc * 0.4, 1)
    pact, ppat, pimpot = round(r.uniform(55.0, 68.0), 1), round(r.uniform(1.5, 5.0), 1), round(-r.uniform(5.0, 10.0), 1)
    v.update(PACT=pact, PCHO=round(r.uniform(3.0, 7.0), 1), PPAT=ppat, PPSOC=ppsoc, PPFAM=ppfam, PPMINI=ppmini,
             PPLOGT=round(ppsoc - ppfam - ppmini, 1), PIMPOT=pimpot, PPEN=round(100.0 - pact - ppat - ppsoc - pimpot, 1))
    v["TP60"] = round(_clip(44.0 - (med - 14300.0) / 150.0 + r.gauss(0.0, 3.0), 18.0, 68.0), 1)
    v["NOTE"] = 0
    return v


def filosofi_published(code: str, millesime: int) -> dict:
    """A QPV's row of ``revenu-disponible-qp24-<year>_QP.csv``: about 20 % of QPV fully masked
    (``DISP_NOTE`` 1-3, every cell blank), about 6 % with the extreme deciles blank (``DISP_NOTE`` 0)."""
    r = rng("insee_filosofi_qpv", code, millesime)
    level = _clip(rng("insee_filosofi_qpv", "level", code).gauss(14300.0, 1400.0), 10800.0, 19800.0)
    level *= (1.0 + 0.035 * (millesime - 2021)) * (1.0 + r.gauss(0.0, 0.01))
    v = _filosofi_values(level, r)
    secret = rng("insee_filosofi_qpv", "secret", code, millesime).random()
    if secret < 0.20:
        v = {k: None for k in v}
        v["NOTE"] = 1 + int(secret * 15) % 3
    elif secret < 0.26:
        v.update({k: None for k in ("D1", "D2", "D8", "D9", "RD", "S80S20", "GINI")})
    return v


def filosofi_expected(code: str, millesime: int) -> dict:
    v = filosofi_published(code, millesime)
    return {canon: v[var] for canon, var in FILO_CANONICAL.items()}


def _filosofi_row(code: str, v: dict, thousands: str) -> list[str]:
    out = [code]
    for var in FILO_VARS:
        if var in FILO_INCOMES:
            out.append(_num(v[var], thousands=thousands))
        elif var == "NOTE":
            out.append(_num(v[var]))
        elif var == "EQ":
            out.append(_num(v[var], digits=2))
        elif var == "GINI":
            out.append(_num(v[var], digits=3))
        else:
            out.append(_num(v[var], digits=1))
    return out


def write_filosofi(millesime: int, *, bom: bool, newline: str, thousands: str, quote_header: bool) -> Path:
    yy = str(millesime)[-2:]
    header = ["CODGEO"] + [f"DISP_{var}_A{yy}" for var in FILO_VARS]
    ensemble = _filosofi_values(14300.0 * (1.0 + 0.035 * (millesime - 2021)),
                                rng("insee_filosofi_qpv", "ensemble", millesime))
    rows = [_filosofi_row("Ensemble", ensemble, thousands)]
    rows += [_filosofi_row(c, filosofi_published(c, millesime), thousands) for c in codes()]
    fmt = {"bom": bom, "newline": newline, "quote_header": quote_header}
    data = _csv(header, rows, **fmt)
    ens = _csv(header, [_filosofi_row("00", ensemble, thousands)], **fmt)
    # declared income: a smaller sibling file in the same ZIP (never read by the parser)
    dec_vars = ("Q1", "MED", "Q3", "D1", "D9", "RD", "NOTE")
    dec_header = ["CODGEO"] + [f"DEC_{var}_A{yy}" for var in dec_vars]
    dec_rows = []
    for c in codes():
        v = filosofi_published(c, millesime)
        dec = {k: (None if v[k] is None else (_r10(v[k] * (0.2 if k == "D1" else 0.85)) if k != "RD"
                                             else round(v["RD"] * 3.0, 1))) for k in dec_vars if k != "NOTE"}
        dec_rows.append([c] + [_num(dec[k], digits=1 if k == "RD" else 0, thousands="" if k == "RD" else thousands)
                               for k in dec_vars if k != "NOTE"] + [_num(v["NOTE"])])
    labels = [("CODGEO", "Code géographique du quartier prioritaire 2024")] + [
        (f"DISP_{var}_A{yy}", f"Revenu disponible {millesime} : indicateur {var}") for var in FILO_VARS]
    stem = f"revenu-disponible-qp24-{millesime}"
    members = [
        (f"{stem}_QP.csv", data),
        (f"{stem}_ENSQP.csv", ens),
        (f"meta_indic-{stem}_QP.csv", _meta(labels)),
        (f"revenu-declare-qp24-{millesime}_QP.csv", _csv(dec_header, dec_rows, **fmt)),
    ]
    dest = generate.HERE / "insee_filosofi_qpv" / str(millesime) / FILO_FILES[millesime]
    return _zip(dest, members, (2024 + millesime - 2021, 8, 28, 12, 0, 0))


# -- 2. Estimations démographiques (header designed by the project: not seen anywhere) -----------------------

ESTIM_BANDS = ("pop_0_14", "pop_15_19", "pop_20_24", "pop_25_59", "pop_60_74", "pop_75_plus")
ESTIM_HEADERS = {
    2022: ["CODGEO", "POP", "POP_H", "POP_F", "POP_0A14", "POP_15A19", "POP_20A24", "POP_25A59", "POP_60A74",
           "POP_75ETPLUS"],
    2023: ["codgeo", "pop", "pop_h", "pop_f", "pop_0a14", "pop_15a19", "pop_20a24", "pop_25a59", "pop_60a74",
           "pop_75p"],
}
ESTIM_FILES = {m: f"estimations-demographiques_{m}_QPV2024_csv.zip" for m in ESTIM_HEADERS}


def estimations_expected(code: str, millesime: int) -> dict:
    """Population at 1 January by age band, close to (never equal by construction to) generate.population()."""
    r = rng("insee_estimations_qpv", code, millesime)
    shape = rng("insee_estimations_qpv", "shape", code)
    est = population(code, millesime) * (1.0 + r.gauss(0.0, 0.012))
    shares = {"pop_0_14": shape.uniform(0.19, 0.27), "pop_15_19": shape.uniform(0.06, 0.08),
              "pop_20_24": shape.uniform(0.06, 0.085), "pop_60_74": shape.uniform(0.09, 0.17),
              "pop_75_plus": shape.uniform(0.04, 0.10)}
    shares["pop_25_59"] = 1.0 - sum(shares.values())
    bands = {b: int(round(est * shares[b] * (1.0 + r.gauss(0.0, 0.005)))) for b in ESTIM_BANDS}
    total = sum(bands.values())
    hommes = int(round(total * r.uniform(0.46, 0.50)))
    return {"pop_total": total, **bands, "pop_hommes": hommes, "pop_femmes": total - hommes}


def write_estimations(millesime: int, *, bom: bool, newline: str, thousands: str) -> Path:
    order = ("pop_total", "pop_hommes", "pop_femmes") + ESTIM_BANDS
    rows = []
    for c in codes():
        e = estimations_expected(c, millesime)
        rows.append([c] + [_num(e[k], thousands=thousands) for k in order])
    header = ESTIM_HEADERS[millesime]
    data = _csv(header, rows, bom=bom, newline=newline)
    labels = list(zip(header, ["Code géographique du quartier prioritaire 2024", "Population estimée",
                               "Hommes", "Femmes", "0 à 14 ans", "15 à 19 ans", "20 à 24 ans", "25 à 59 ans",
                               "60 à 74 ans", "75 ans et plus"], strict=True))
    members = [(f"data_ESTIM{millesime}_QP.csv", data), (f"meta_ESTIM{millesime}_QP.csv", _meta(labels))]
    dest = generate.HERE / "insee_estimations_qpv" / str(millesime) / ESTIM_FILES[millesime]
    return _zip(dest, members, (millesime + 2, 11, 15, 12, 0, 0))


# -- 3. DEFM (France Travail, géoréférencement INSEE) --------------------------------------------------------

DEFM_HEADER = ["CODGEO", "NOTE", "ABCDE", "ABCDE_H", "ABCDE_F", "ABC", "ABC_H", "ABC_F", "A", "A_H", "A_F",
               "ABC_25", "ABC_25_H", "ABC_25_F", "ABC_2649", "ABC_2649_H", "ABC_2649_F", "ABC_50", "ABC_50_H",
               "ABC_50_F", "ABC_FR", "ABC_E", "ABC_INFCAPBEP", "ABC_INFCAPBEP_H", "ABC_INFCAPBEP_F", "ABC_CAPBEP",
               "ABC_CAPBEP_H", "ABC_CAPBEP_F", "ABC_BAC", "ABC_BAC_H", "ABC_BAC_F", "ABC_SUPBAC", "ABC_SUPBAC_H",
               "ABC_SUPBAC_F", "ABC_Dur1", "ABC_Dur1_H", "ABC_Dur1_F", "ABC_Dur2", "ABC_Dur2_H", "ABC_Dur2_F",
               "ABC_Dur3", "ABC_Dur3_H", "ABC_Dur3_F", "ABC_Dur4", "ABC_Dur4_H", "ABC_Dur4_F", "ABC_Ins1",
               "ABC_Ins2", "ABC_Ins3", "ABC_Ins4", "ABC_Ins5", "ABC_RSA", "ABC_RSA_H", "ABC_RSA_F"]
DEFM_CANONICAL = {"note": "NOTE", "defm_abcde": "ABCDE", "defm_abc": "ABC", "defm_abc_hommes": "ABC_H",
                  "defm_abc_femmes": "ABC_F", "defm_a": "A", "defm_abc_moins_25": "ABC_25",
                  "defm_abc_50_plus": "ABC_50", "defm_abc_rsa": "ABC_RSA"}
DEFM_FILES = {m: (f"DEFM{m}_QP24_csv.zip", f"data_DEFM{m}_QP.csv") for m in (2023, 2024, 2025)}


def _split(r, total: int, weights: list[float]) -> list[int]:
    """``total`` split in parts proportional to noisy ``weights`` (parts sum to total)."""
    w = [x * r.uniform(0.85, 1.15) for x in weights]
    parts = [int(total * x / sum(w)) for x in w]
    parts[-1] += total - sum(parts)
    return parts


def _hf(r, total: int, share_h: float) -> tuple[int, int]:
    h = int(round(total * _clip(share_h + r.gauss(0.0, 0.03), 0.3, 0.7)))
    return h, total - h


def defm_published(code: str, millesime: int) -> dict:
    """Job seekers at 31 December. From 1 January 2025 RSA recipients are registered automatically
    (loi pour le plein emploi): the 2025 counts jump (ABC_RSA about × 2, ABC, ABCDE and A with it)."""
    pop = population(code, min(millesime, 2023))
    level = rng("ft_defm_qpv", "level", code).uniform(0.075, 0.115)
    r = rng("ft_defm_qpv", code, millesime)
    abc = int(round(pop * level * (1.0 + r.gauss(0.0, 0.03)) * (1.0 - 0.02 * (millesime - 2023))))
    rsa = int(round(abc * rng("ft_defm_qpv", "rsa", code).uniform(0.22, 0.34)))
    a = int(round(abc * r.uniform(0.58, 0.68)))
    if millesime >= 2025:
        extra = int(round(rsa * r.uniform(0.9, 1.4)))
        rsa, abc, a = rsa + extra, abc + extra, a + int(round(extra * 0.85))
    abcde = abc + int(round(abc * r.uniform(0.07, 0.12)))
    v: dict = {"NOTE": 0}
    v["ABCDE"], (v["ABCDE_H"], v["ABCDE_F"]) = abcde, _hf(r, abcde, 0.50)
    v["ABC"], (v["ABC_H"], v["ABC_F"]) = abc, _hf(r, abc, 0.50)
    v["A"], (v["A_H"], v["A_F"]) = a, _hf(r, a, 0.52)
    for name, part in zip(("ABC_25", "ABC_2649", "ABC_50"), _split(r, abc, [0.13, 0.61, 0.26]), strict=True):
        v[name], (v[name + "_H"], v[name + "_F"]) = part, _hf(r, part, 0.50)
    v["ABC_E"] = int(round(abc * r.uniform(0.15, 0.35)))
    v["ABC_FR"] = abc - v["ABC_E"]
    for name, part in zip(("ABC_INFCAPBEP", "ABC_CAPBEP", "ABC_BAC", "ABC_SUPBAC"),
                          _split(r, abc, [0.35, 0.30, 0.22, 0.13]), strict=True):
        v[name], (v[name + "_H"], v[name + "_F"]) = part, _hf(r, part, 0.5)
    for i, part in enumerate(_split(r, abc, [0.32, 0.18, 0.22, 0.28]), start=1):
        v[f"ABC_Dur{i}"], (v[f"ABC_Dur{i}_H"], v[f"ABC_Dur{i}_F"]) = part, _hf(r, part, 0.5)
    for i, part in enumerate(_split(r, abc, [0.40, 0.25, 0.15, 0.12, 0.08]), start=1):
        v[f"ABC_Ins{i}"] = part
    v["ABC_RSA"], (v["ABC_RSA_H"], v["ABC_RSA_F"]) = rsa, _hf(r, rsa, 0.45)
    v = _blank_small(v, set(v) - {"NOTE"})
    if rng("ft_defm_qpv", "secret", code, millesime).random() < 0.04:
        v = {k: None for k in v}
        v["NOTE"] = 1 + rng("ft_defm_qpv", "note", code, millesime).randrange(2)
    return v


def defm_expected(code: str, millesime: int) -> dict:
    v = defm_published(code, millesime)
    return {canon: v[var] for canon, var in DEFM_CANONICAL.items()}


def write_defm(millesime: int, *, dur_case: str, bom: bool, newline: str, thousands: str,
               quote_header: bool) -> Path:
    def spelled(h: str) -> str:
        return h.replace("_Dur", "_" + dur_case).replace("_Ins", "_INS" if dur_case == "DUR" else "_Ins")

    header = [spelled(h) for h in DEFM_HEADER]
    rows = []
    for c in codes():
        v = defm_published(c, millesime)
        rows.append([c] + [_num(v[h], thousands="" if h == "NOTE" else thousands) for h in DEFM_HEADER[1:]])
    data = _csv(header, rows, bom=bom, newline=newline, quote_header=quote_header)
    labels = [(h, f"Demandeurs d'emploi au 31 décembre {millesime} : {h}") for h in header]
    zip_name, member = DEFM_FILES[millesime]
    members = [(member, data), (f"meta_DEFM{millesime}_QP.csv", _meta(labels))]
    dest = generate.HERE / "ft_defm_qpv" / str(millesime) / zip_name
    return _zip(dest, members, (millesime + 1, 9, 30, 12, 0, 0))


# -- 4. CAF allocataires --------------------------------------------------------------------------------------

CAF_HEADER = ["CODGEO", "NOTE", "A", "PERCOU", "AI", "AM", "ACSSENF", "ACAVENF", "AC3ENF", "ENF", "ENF_2",
              "ENF_3_5", "ENF_6_10", "ENF_11_14", "ENF_15_17", "ENF_18_24", "A_ETUD", "A_NETUD_24", "AAL", "AAPL",
              "AAAH", "APPA", "ARSAS"]
CAF_CANONICAL = {"note": "NOTE", "allocataires": "A", "personnes_couvertes": "PERCOU", "allocataires_isoles": "AI",
                 "allocataires_monoparents": "AM", "allocataires_couples_sans_enfant": "ACSSENF",
                 "allocataires_couples_avec_enfants": "ACAVENF", "enfants_couverts": "ENF",
                 "allocataires_aide_logement": "AAL", "allocataires_aah": "AAAH",
                 "allocataires_prime_activite": "APPA", "allocataires_rsa": "ARSAS"}
CAF_FILES = {m: f"beneficiaires_CAF_31-12-{m}_QP24_csv.zip" for m in (2023, 2024)}


def _caf_values(pop: int, r) -> dict:
    """A = AI + AM + ACSSENF + ACAVENF; ENF = sum of the age bands; PERCOU = A + spouses + ENF + others
    (the identities of INSEE's IRIS files); PERCOU about 50-80 % of the population."""
    coverage = r.uniform(0.56, 0.72)
    a = int(round(pop * coverage / 2.46))
    ai, am, acss, acav = _split(r, a, [0.45, 0.17, 0.05, 0.33])
    enf = int(round(am * r.uniform(1.6, 2.0) + acav * r.uniform(2.1, 2.5)))
    ages = _split(r, enf, [0.11, 0.17, 0.26, 0.2, 0.13, 0.13])
    percou = a + acss + acav + enf + int(round(a * r.uniform(0.0, 0.04)))
    v = {"NOTE": 0, "A": a, "PERCOU": percou, "AI": ai, "AM": am, "ACSSENF": acss, "ACAVENF": acav,
         "AC3ENF": int(round(acav * r.uniform(0.25, 0.4))), "ENF": enf}
    v.update(zip(("ENF_2", "ENF_3_5", "ENF_6_10", "ENF_11_14", "ENF_15_17", "ENF_18_24"), ages, strict=True))
    aal = int(round(a * r.uniform(0.50, 0.68)))
    v.update(A_ETUD=int(round(a * r.uniform(0.005, 0.03))), A_NETUD_24=int(round(a * r.uniform(0.03, 0.07))),
             AAL=aal, AAPL=int(round(aal * r.uniform(0.7, 0.9))), AAAH=int(round(a * r.uniform(0.06, 0.11))),
             APPA=int(round(a * r.uniform(0.20, 0.32))), ARSAS=int(round(a * r.uniform(0.18, 0.32))))
    return v


def caf_published(code: str, millesime: int) -> dict:
    r = rng("caf_allocataires_qpv", code, millesime)
    v = _caf_values(population(code, millesime), r)
    v = _blank_small(v, set(v) - {"NOTE"})
    if rng("caf_allocataires_qpv", "secret", code, millesime).random() < 0.04:
        v = {k: None for k in v}
        v["NOTE"] = (2, 3, 5)[rng("caf_allocataires_qpv", "note", code, millesime).randrange(3)]
    return v


def caf_expected(code: str, millesime: int) -> dict:
    v = caf_published(code, millesime)
    return {canon: v[var] for canon, var in CAF_CANONICAL.items()}


def _communes() -> list[str]:
    out: list[str] = []
    for t in territoires():
        for c in t["insee_com"].replace(" ", "").split(","):
            if c and c not in out:
                out.append(c)
    return sorted(out)


def write_caf(millesime: int, *, note_col: str, bom: bool, newline: str, thousands: str) -> Path:
    header = [note_col if h == "NOTE" else h for h in CAF_HEADER]

    def row(code: str, v: dict) -> list[str]:
        return [code] + [_num(v[h], thousands="" if h == "NOTE" else thousands) for h in CAF_HEADER[1:]]

    qp = [row(c, caf_published(c, millesime)) for c in codes()]
    com = []
    for c in _communes():
        r = rng("caf_allocataires_qpv", "commune", c, millesime)
        com.append(row(c, _caf_values(int(rng("caf_allocataires_qpv", "commune", c).uniform(9000, 250000)), r)))
    fmt = {"bom": bom, "newline": newline}
    labels = [(h, f"Bénéficiaires CAF au 31 décembre {millesime} : {h}") for h in header]
    members = [(f"data_CAF{millesime}_QP.csv", _csv(header, qp, **fmt)),
               (f"data_CAF{millesime}_COM.csv", _csv(header, com, **fmt)),
               (f"meta_CAF{millesime}_QP.csv", _meta(labels))]
    dest = generate.HERE / "caf_allocataires_qpv" / str(millesime) / CAF_FILES[millesime]
    return _zip(dest, members, (millesime + 1, 10, 15, 12, 0, 0))


# -- 5. RPLS (parc locatif social au 1er janvier) --------------------------------------------------------------

RPLS_HEADER_2025 = ["CodGeo", "Note", "nbLsPls", "nbLsMes", "txVac", "txVac3m", "txRot", "txLsCol", "txLsInd",
                    "txLs1p", "txLs2p", "txLs3p", "txLs4p", "txLs5pp", "txLsm30", "txLs30a40", "txLs40a60",
                    "txLs60a80", "txLs80a100", "txLs100a120", "txLs120p", "txLsAv49", "txLs49a75", "txLs76a88",
                    "txLs89a00", "txLs01a13", "txLsAp13", "txLsPlai", "txLsPlusAv77", "txLsPlusAp77", "txLsPls",
                    "txLsPli", "moyLoy", "q1Loy", "medLoy", "q3Loy"]
#: the 2024 file: older QPV-file style (``codGeo`` + ``libGeo``, INSEE's ``tsLsPlsPli`` typo for PLS + PLI)
RPLS_HEADER_2024 = (["codGeo", "libGeo"] + RPLS_HEADER_2025[1:30] + ["tsLsPlsPli"] + RPLS_HEADER_2025[32:])
RPLS_GROUPS = (("txLsCol", "txLsInd"), ("txLs1p", "txLs2p", "txLs3p", "txLs4p", "txLs5pp"),
               ("txLsm30", "txLs30a40", "txLs40a60", "txLs60a80", "txLs80a100", "txLs100a120", "txLs120p"),
               ("txLsAv49", "txLs49a75", "txLs76a88", "txLs89a00", "txLs01a13", "txLsAp13"),
               ("txLsPlai", "txLsPlusAv77", "txLsPlusAp77", "txLsPls", "txLsPli"))
RPLS_CANONICAL = {"note": "Note", "logements_sociaux": "nbLsPls", "logements_mis_en_service": "nbLsMes",
                  "taux_vacance": "txVac", "taux_rotation": "txRot", "loyer_moyen_m2": "moyLoy",
                  "loyer_median_m2": "medLoy"}
RPLS_FILES = {m: (f"RPLS_01-01-{m}_QPV_2024_csv.zip", f"data_RPLS{m}_QP.csv") for m in (2024, 2025)}


def _shares(r, n: int) -> list[float]:
    w = [r.uniform(0.2, 1.0) for _ in range(n)]
    s = [round(100.0 * x / sum(w), 1) for x in w]
    s[-1] = round(100.0 - sum(s[:-1]), 1)
    return s


def rpls_published(code: str, millesime: int) -> dict:
    """Social dwellings at 1 January. A few old-centre QPV have a tiny parc: below 20 dwellings the row is
    withheld (``Note`` 1, every cell blank); below 120 most rates are blank although ``Note`` = 0."""
    shape = rng("rpls_qpv", "shape", code)
    kind = shape.random()
    share = (shape.uniform(0.001, 0.01) if kind < 0.03 else shape.uniform(0.01, 0.08) if kind < 0.10
             else shape.uniform(0.25, 0.85))
    r = rng("rpls_qpv", code, millesime)
    parc = int(round(population(code, 2021) / 2.3 * 1.1 * share * (1.0 + 0.01 * (millesime - 2024))))
    v: dict = {"Note": 0, "nbLsPls": parc, "nbLsMes": int(round(parc * r.uniform(0.0, 0.03)))}
    vac = round(r.uniform(1.0, 7.0), 1)
    v.update(txVac=vac, txVac3m=round(vac * r.uniform(0.3, 0.7), 1), txRot=round(r.uniform(4.0, 11.0), 1))
    for group in RPLS_GROUPS:
        v.update(zip(group, _shares(r, len(group)), strict=True))
    v["tsLsPlsPli"] = round(v["txLsPls"] + v["txLsPli"], 1)
    moy = r.uniform(5.2, 7.6)
    v.update(moyLoy=round(moy, 2), q1Loy=round(moy * r.uniform(0.85, 0.93), 2),
             medLoy=round(moy * r.uniform(0.96, 1.02), 2), q3Loy=round(moy * r.uniform(1.06, 1.15), 2))
    if parc < 20:
        v = {k: None for k in v}
        v["Note"] = 1
    elif parc < 120:
        kept = {"Note", "nbLsPls", "nbLsMes", "moyLoy", "q1Loy", "medLoy", "q3Loy", "txLsAp13"}
        v = {k: (x if k in kept else None) for k, x in v.items()}
    return v


def rpls_expected(code: str, millesime: int) -> dict:
    v = rpls_published(code, millesime)
    out = {canon: v[var] for canon, var in RPLS_CANONICAL.items()}
    lib = next(t["lib_qp"] for t in territoires() if t["code_qp"] == code)
    out["libelle_qpv"] = lib if millesime == 2024 else None
    return out


def write_rpls(millesime: int, *, bom: bool, newline: str, thousands: str) -> Path:
    header = RPLS_HEADER_2024 if millesime == 2024 else RPLS_HEADER_2025
    libs = {t["code_qp"]: t["lib_qp"] for t in territoires()}
    rows = []
    for c in codes():
        v = rpls_published(c, millesime)
        row = [c]
        for h in header[1:]:
            if h == "libGeo":
                row.append(libs[c])
            elif h in ("Note", "nbLsMes"):
                row.append(_num(v[h]))
            elif h == "nbLsPls":
                row.append(_num(v[h], thousands=thousands))
            elif h.endswith("Loy"):
                row.append(_num(v[h], digits=2))
            else:
                row.append(_num(v[h], digits=1, trim=True))
        rows.append(row)
    data = _csv(header, rows, bom=bom, newline=newline)
    labels = [(h, f"Parc locatif social au 1er janvier {millesime} : {h}") for h in header]
    zip_name, member = RPLS_FILES[millesime]
    members = [(member, data), (f"meta_RPLS{millesime}_QP.csv", _meta(labels, with_codes=False))]
    dest = generate.HERE / "rpls_qpv" / str(millesime) / zip_name
    return _zip(dest, members, (millesime + 1, 6, 30, 12, 0, 0))


# -- 6. BPE: one row per equipment ------------------------------------------------------------------------------

BPE24_HEADER = (
    "AN NOMRS CNOMRS NUMVOIE INDREP TYPVOIE LIBVOIE CADR CODPOS DEPCOM DEP REG LIBCOM DOM SDOM TYPEQU SIRET "
    "STATUT_DIFFUSION CANTINE INTERNAT RPI EP CL_PGE SECT ACCES_AIRE_PRATIQUE ACCES_LIBRE ACCES_SANITAIRE "
    "ACCES_VESTIAIRE CAPACITE_D_ACCUEIL PRES_DOUCHE PRES_SANITAIRE SAISONNIER COUVERT ECLAIRE CATEGORIE "
    "MULTIPLEXE STRUCTURE_EXERCICE SPECIALITE ACCUEIL ITINERANCE MODE_GESTION SSTYPHEB TYPE IMPLANTATION_STATION "
    "CAPACITE INDIC_CAPA NBEQUIDENT INDIC_NBEQUIDENT NBSALLES INDIC_NBSALLES NBLIEUX INDIC_NBLIEUX NB_PDC "
    "INDIC_NB_PDC NB_PDC_PA INDIC_NB_PDC_PA NB_PDC_ACCELEREE INDIC_NB_PDC_ACCELEREE NB_PDC_LENTE "
    "INDIC_NB_PDC_LENTE NB_PDC_RAPIDE INDIC_NB_PDC_RAPIDE NB_PDC_ULTRARAPIDE INDIC_NB_PDC_ULTRARAPIDE "
    "NB_JOURS_OUVERT INDIC_NB_JOURS_OUVERT LAMBERT_X LAMBERT_Y LONGITUDE LATITUDE QUALITE_XY EPSG QUALITE_GEOLOC "
    "TR_DIST_PRECISION DCIRIS QUALI_IRIS IRISEE QP2024 QUALI_QP2024 QVA QUALI_QVA ZUS QUALI_ZUS EPCI UU2020 "
    "BV2022 AAV2020 DENS3 DENS7"
).split()


def _bpe25_header() -> list[str]:
    out = []
    for h in BPE24_HEADER:
        out.append(h.lower())
        if h == "SIRET":
            out += ["apet", "secteur"]
        elif h == "QUALI_QP2024":
            out += ["qp2015", "quali_qp2015"]
        elif h == "INDIC_NB_JOURS_OUVERT":
            out += ["typeresto", "gpl"]
    return out


BPE_FILES = {2024: "BPE24.csv", 2025: "BPE25.zip"}
BPE_SLOTS = 24
#: TYPEQU codes used (headers.md: sport F1, nature F2, culture F3, health D1-D3; plus police A101, post office
#: A206, schools C107 maternelle / C109 élémentaire / C201 collège / C301 lycée of the 2023+ nomenclature)
BPE_TYPEQU = (
    ["F101", "F102", "F103", "F107", "F111", "F112", "F113", "F114", "F116", "F120", "F121"] * 2
    + ["F201", "F203", "F303", "F305", "F307", "F312", "F315"] * 2
    + ["D201", "D201", "D201", "D221", "D233", "D233", "D244", "D244", "D244", "D210", "D214", "D231", "D235",
       "D108", "D113", "D302", "D307", "D307"]
    + ["A101", "A206", "C107", "C109", "C109", "C201", "C301"]
)
BPE_STREETS = ("DE LA RÉPUBLIQUE", "JEAN JAURÈS", "DES ÉCOLES", "DU STADE", "FRÉDÉRIC MISTRAL", "DE LA GARE",
               "PASTEUR", "DES LILAS", "DU 8 MAI 1945", "SAINT-ANTOINE")
BPE_NAMES = {"F1": "COMPLEXE SPORTIF", "F2": "BASE DE LOISIRS", "F3": "MÉDIATHÈQUE", "D1": "CENTRE DE SANTÉ",
             "D3": "PHARMACIE", "A1": "COMMISSARIAT", "A2": "BUREAU DE POSTE", "C1": "GROUPE SCOLAIRE",
             "C2": "COLLÈGE", "C3": "LYCÉE"}


def lambert93(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 → Lambert-93 (EPSG:2154), Lambert conformal conic 2SP on GRS80."""
    a, f = 6378137.0, 1 / 298.257222101
    e = math.sqrt(2 * f - f * f)
    lon0, phi0, phi1, phi2 = map(math.radians, (3.0, 46.5, 44.0, 49.0))

    def m(p):
        return math.cos(p) / math.sqrt(1 - (e * math.sin(p)) ** 2)

    def t(p):
        return math.tan(math.pi / 4 - p / 2) / ((1 - e * math.sin(p)) / (1 + e * math.sin(p))) ** (e / 2)

    n = (math.log(m(phi1)) - math.log(m(phi2))) / (math.log(t(phi1)) - math.log(t(phi2)))
    big_f = m(phi1) / (n * t(phi1) ** n)
    rho0, rho = a * big_f * t(phi0) ** n, a * big_f * t(math.radians(lat)) ** n
    theta = n * (math.radians(lon) - lon0)
    return 700000.0 + rho * math.sin(theta), 6600000.0 + rho0 - rho * math.cos(theta)


def centroids() -> dict[str, tuple[float, float]]:
    """Rough centroid (mean of the outer rings' vertices) of each recorded QPV contour."""
    with open(generate.BASE / "qpv_contours.geojson", encoding="utf-8") as fh:
        gj = json.load(fh)
    out = {}
    for feat in gj["features"]:
        geom = feat["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        pts = [p for poly in polys for p in poly[0]]
        out[feat["properties"]["code_qp"]] = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
    return out


def bpe_published(millesime: int) -> list[dict]:
    """The recorded equipments of a millésime (BPE24 column names → value as written), in file order.
    Slots are stable across millésimes (about 88 % present each year): the 2025 file mostly repeats 2024."""
    cent = centroids()
    rows = []
    for t in territoires():
        code = t["code_qp"]
        communes = [c for c in t["insee_com"].replace(" ", "").split(",") if c]
        arr = f"132{rng('insee_bpe', 'arrondissement', code).randrange(1, 17):02d}"
        lon0, lat0 = cent[code]
        for slot in range(BPE_SLOTS):
            if rng("insee_bpe", "present", code, slot, millesime).random() >= 0.88:
                continue
            r = rng("insee_bpe", code, slot)
            typequ = r.choice(BPE_TYPEQU)
            commune = communes[0] if len(communes) == 1 or r.random() < 0.7 else communes[1]
            depcom = arr if commune == "13055" else commune
            if commune == "13055" and r.random() < 0.4:
                depcom = f"132{r.randrange(1, 17):02d}"
            inside = r.random() < 0.45 and depcom in (arr, commune)
            geoloc = r.random() >= 0.03
            spread = 0.0015 if inside else r.uniform(0.006, 0.02)
            lon, lat = lon0 + r.uniform(-spread, spread), lat0 + r.uniform(-spread, spread)
            x, y = lambert93(lon, lat)
            quali = "1" if r.random() < 0.8 else r.choice(["2", "3"])
            if not geoloc:
                qp, qq = "_U", "_U"
            elif inside:
                qp, qq = code, quali
            else:
                qp, qq = ("HZ", "_Z") if millesime == 2024 else ("", "_Z")
            # QP2015 (BPE25 only): most equipments of a pre-existing QPV were in its 2015 ancestor; some
            # equipments outside every 2024 QPV were in a 2015 QPV (contours redrawn, QPV left the list)
            in_2015 = geoloc and (r.random() < 0.8 if inside and code[-1] != "N" else r.random() < 0.15)
            if in_2015:
                qp2015 = f"QP{code[2:5]}{r.randrange(1, 60):03d}" if code[2:5].isdigit() else "_U"
            else:
                qp2015 = "HZ" if geoloc else "_U"
            dom = typequ[0]
            name = "" if typequ.startswith("D2") else f"{BPE_NAMES[typequ[:2]]} {r.randrange(1, 999):03d}"
            if name and r.random() < 0.1:
                name += ", BÂT. A"  # a comma inside a value: quoted when ``,`` separates
            lib_com = t["lib_com"].split(",")[0] if depcom == commune else "Marseille " + (
                "1er" if depcom == "13201" else f"{int(depcom[-2:])}e") + " Arrondissement"
            if commune == "13070":
                lib_com = "La Penne-sur-Huveaune"
            row = {h: "" for h in BPE24_HEADER}
            row.update(
                AN=str(millesime), NOMRS=name, NUMVOIE=str(r.randrange(1, 250)), TYPVOIE=r.choice(["RUE", "AV", "BD"]),
                LIBVOIE=r.choice(BPE_STREETS), CODPOS=("130" + depcom[-2:]) if depcom.startswith("132") else (
                    depcom[:2].replace("2A", "20").replace("2B", "20") + "1" + depcom[-2:]),
                DEPCOM=depcom, DEP=t["insee_dep"], REG=t["insee_reg"], LIBCOM=lib_com, DOM=dom, SDOM=typequ[:2],
                TYPEQU=typequ, SIRET="" if r.random() < 0.3 else str(r.randrange(10**13, 10**14)),
                STATUT_DIFFUSION="O",
                LAMBERT_X=f"{x:.1f}" if geoloc else "", LAMBERT_Y=f"{y:.1f}" if geoloc else "",
                LONGITUDE=f"{lon:.6f}" if geoloc else "", LATITUDE=f"{lat:.6f}" if geoloc else "",
                QUALITE_XY=r.choice(["B", "B", "B", "A", "M"]) if geoloc else "_Z",
                EPSG="2154" if geoloc else "", DCIRIS=f"{depcom}{r.randrange(101, 1300):04d}",
                QUALI_IRIS="1" if geoloc else "X", QP2024=qp, QUALI_QP2024=qq,
                QVA="HZ", QUALI_QVA="_Z", ZUS="HZ", QUALI_ZUS="_Z", EPCI=t["siren_epci"],
                DENS3="1" if commune in ("13055", "83137", "13001") else "2",
                DENS7="1" if commune in ("13055", "83137", "13001") else "3",
            )
            row["_qp2015"] = qp2015
            row["_quali_qp2015"] = ("1" if qp2015.startswith("QP") else ("_Z" if qp2015 == "HZ" else "_U"))
            rows.append(row)
    return rows


def bpe_expected(millesime: int) -> list[dict]:
    out = []
    for row in bpe_published(millesime):
        qp = row["QP2024"]
        out.append({
            "annee": int(row["AN"]), "code_commune": row["DEPCOM"], "code_epci": row["EPCI"] or None,
            "typequ": row["TYPEQU"], "code_qpv": qp if qp.startswith("QN") else None,
            "qualite_qpv": row["QUALI_QP2024"] or None,
            "longitude": float(row["LONGITUDE"]) if row["LONGITUDE"] else None,
            "latitude": float(row["LATITUDE"]) if row["LATITUDE"] else None,
        })
    return out


def write_bpe(millesime: int) -> Path:
    rows = bpe_published(millesime)
    dest = generate.HERE / "insee_bpe" / str(millesime) / BPE_FILES[millesime]
    if millesime == 2024:  # BPE24.csv: ``;``, upper-case names, CRLF, no BOM
        return _write(dest, _csv(BPE24_HEADER, [[r[h] for h in BPE24_HEADER] for r in rows], newline="\r\n"))
    header = _bpe25_header()  # BPE25.zip: ``,``, lower-case names, BOM, LF, QP2015 next to QP2024
    body = []
    for r in rows:
        extra = {"apet": "", "secteur": "", "typeresto": "", "gpl": "", "qp2015": r["_qp2015"],
                 "quali_qp2015": r["_quali_qp2015"]}
        body.append([extra[h] if h in extra else r[h.upper()] for h in header])
    data = _csv(header, body, sep=",", bom=True)
    varmod = _csv(["COD_VAR", "LIB_VAR"], [[h, f"Variable {h} de la BPE {millesime}"] for h in header], sep=";")
    return _zip(dest, [("BPE25.csv", data), ("varmod_BPE25.csv", varmod)], (2025, 7, 10, 12, 0, 0))


# -- everything -----------------------------------------------------------------------------------------------

def write_all() -> list[Path]:
    return [
        write_filosofi(2021, bom=True, newline="\r\n", thousands=NNBSP, quote_header=False),
        write_filosofi(2022, bom=False, newline="\n", thousands="", quote_header=True),
        write_estimations(2022, bom=False, newline="\n", thousands=NNBSP),
        write_estimations(2023, bom=True, newline="\r\n", thousands=""),
        write_defm(2023, dur_case="DUR", bom=True, newline="\r\n", thousands="", quote_header=True),
        write_defm(2024, dur_case="Dur", bom=False, newline="\n", thousands=NNBSP, quote_header=False),
        write_defm(2025, dur_case="Dur", bom=False, newline="\n", thousands="", quote_header=False),
        write_caf(2023, note_col="NOTE_CNAF", bom=True, newline="\r\n", thousands=""),
        write_caf(2024, note_col="NOTE", bom=False, newline="\n", thousands=NNBSP),
        write_rpls(2024, bom=True, newline="\r\n", thousands=""),
        write_rpls(2025, bom=False, newline="\n", thousands=NNBSP),
        write_bpe(2024),
        write_bpe(2025),
    ]
