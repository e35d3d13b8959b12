"""The edition's README.md (the Jinja template ``templates/README.md.j2``) and the workbook's notes, in French, for
evaluators."""

from __future__ import annotations

from typing import Any

import jinja2

from observatoire.config import DEMO_NOTICE
from observatoire.snapshot.base import (
    _STATUTS,
    DICTIONARY_SHEET,
    EVALUATION_TABLE,
    LATEST_SHEET,
    LATEST_TABLE,
    SIGNATURE,
    SITE_DIR,
)
from observatoire.snapshot.signing import signature_info

#: the README's template: plain text substitution (no autoescape: Markdown), its newlines kept as written
_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("observatoire.snapshot", "templates"), autoescape=False,
                                keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def _territoire(perimetre: str | None, *, de: bool = False) -> str:
    """What the edition describes: the contract's Métropole, or the perimeter it was built for."""
    from observatoire.config import DEFAULT_PERIMETRE

    if not perimetre or perimetre == DEFAULT_PERIMETRE:
        text = "Contrat de ville métropolitain Aix-Marseille-Provence 2024-2030"
        return ("du " + text) if de else text
    kind, _, code = perimetre.partition(":")
    text = {"epci": f"EPCI {code}", "departement": f"département {code}"}.get(kind, "France entière")
    return (f"du périmètre {text}" if de else f"périmètre {text}") + " (cadre « Quartiers 2030 »)"


def _territoire_short(perimetre: str | None) -> str:
    """« de la Métropole » (the contract's perimeter) or « du périmètre »."""
    from observatoire.config import DEFAULT_PERIMETRE

    return "de la Métropole" if not perimetre or perimetre == DEFAULT_PERIMETRE else "du périmètre"


def _is_demo(doc: dict) -> bool:
    return bool(doc.get("donnees_demonstration") or (doc.get("publication") or {}).get("donnees_synthetiques"))


def _demo_warning() -> str:
    return (f"Attention : {DEMO_NOTICE}. Édition de démonstration, faite à partir des enregistrements du projet "
            "(formats réels, valeurs inventées) : ces chiffres ne décrivent pas les quartiers réels ; ne pas les "
            "diffuser ni les citer.")


def _notes_rows(doc: dict) -> list[list[Any]]:
    pub = doc["publication"]
    rows: list[list[Any]] = [
        ["# Observatoire des quartiers — " + _territoire(pub.get("perimetre"))],
        ["Édition", doc["edition"]],
        ["Version", doc["version"]],
        ["Créée le", doc["created_at"]],
        ["Publication d'origine", f"run {pub.get('run_id')}, publiée le {pub.get('published_at')}"],
        ["Périmètre", pub.get("perimetre")],
        ["Mode", pub.get("mode")],
    ]
    if _is_demo(doc):
        rows.insert(1, ["ATTENTION", _demo_warning()])
    if doc.get("correction"):
        c = doc["correction"]
        rows += [["Correction de", c["corrige"]], ["Motif", c["motif"]],
                 ["Changements", (c.get("changements") or {}).get("resume")]]
    rows += [
        ["Validations", ("toutes réussies" if doc.get("validations_reussies") else "voir manifest.json")
         + " (celles du run de publication et, pour chaque fichier source, celle qui l'a accepté, chacune avec "
           "son run : rubrique validations de manifest.json)"],
        [],
        ["# Statuts"],
        *[[k, v] for k, v in _STATUTS.items()],
        [],
        ["# Règles"],
        ["Secret statistique", "une valeur retenue par l'éditeur est vide avec le statut secret_statistique, jamais 0 ; "
                               "aucun taux n'est publié s'il est calculé sur des effectifs sous le seuil de diffusion "
                               "de l'éditeur (colonne seuil_secret de la feuille indicateurs)."],
        ["Évolutions", "la feuille evaluation compare le millésime de référence (le premier sur la géographie 2024) "
                       "au dernier ; l'évolution n'est calculée qu'entre deux valeurs disponibles, sans rupture de "
                       "série (colonne comparabilite)."],
        ["Écarts", "ecart_* = valeur du quartier moins celle du territoire de comparaison (points pour un taux) ; "
                   "vide pour un effectif."],
        ["Feuilles", "une feuille par défi, dans l'ordre du contrat (« 1 Transition écologique » … « 10 … ») : une "
                     "ligne par QPV et millésime, pour chaque baromètre sa valeur, son statut, son motif, les "
                     "comparateurs et les écarts ; « Dernières valeurs » : pour chaque QPV et chaque indicateur, la "
                     "dernière valeur, celle du millésime de référence et l'évolution, avec statut et motif ; "
                     "chiffres_cles, fiches_qpv, evaluation, indicateurs, qpv ; « Dictionnaire » : chaque "
                     "indicateur (définition, unité, source, millésimes disponibles) et chaque colonne."],
        ["En-têtes", "ligne 2 : le libellé de la colonne avec son unité (« … (%) », « … — commune (%) », « … — écart "
                     "à la Métropole (points) », « … — statut ») ; ligne 1, masquée : son identifiant, le même que "
                     "dans les fichiers CSV et Parquet (Python : pandas.read_excel(fichier, sheet_name=feuille, "
                     "skiprows=[1]) lit les identifiants, header=1 les libellés)."],
        ["Cellules vides", "une valeur vide n'est jamais un zéro : sur la même ligne, la colonne « … — statut » de "
                           "l'indicateur (ou « Statut ») dit pourquoi et « … — motif » le précise. Un comparateur ou "
                           "un écart vide quand le statut est disponible : le territoire de comparaison n'a pas de "
                           "valeur publiée, ou l'écart n'a pas de sens (effectif)."],
        ["Arrondis", "les valeurs de ce classeur et des fichiers CSV sont arrondies au nombre de décimales de "
                     "l'éditeur (colonne decimales de la feuille indicateurs ; la moitié s'arrondit en s'éloignant "
                     "de zéro), les chiffres clés selon leur unité (1 décimale pour un pourcentage, 2 pour un "
                     "rapport, aucune pour un effectif), les autres nombres à 12 chiffres significatifs ; les "
                     "fichiers Parquet et DuckDB gardent la précision complète des calculs."],
        ["Cellules texte", "un texte commençant par = + - @ est précédé d'une apostrophe pour qu'aucun tableur ne "
                           "l'évalue comme une formule."],
        ["Intégrité", "manifest.json et SHA256SUMS donnent l'empreinte sha256 de chaque fichier "
                      "(vérification : sha256sum -c SHA256SUMS)."],
        ["Signature", _signature_note(doc)],
        [],
        ["# Sources", "URL", "millésime", "éditeur", "licence", "sha256"],
    ]
    for s in doc["sources"]:
        rows.append([s["source_id"], s["url"], s["millesime"], s["editeur"], s["licence"], s["sha256"]])
    if doc.get("fichiers_partenaires"):
        rows += [[], ["# Fichiers des partenaires", "fichier reçu", "millésime", "partenaire", "reçu le", "sha256"]]
        for f in doc["fichiers_partenaires"]:
            rows.append([f["indicateur"], f["nom_fichier"], f["millesime"], f["partenaire"], f["received_at"],
                         f["sha256"]])
    return rows


def _signature_note(doc: dict) -> str:
    sig = signature_info(doc)
    if sig.get("signed"):
        return (f"version signée ({sig.get('algorithm')}, clé d'empreinte {sig.get('key_fingerprint')}) : "
                f"{SIGNATURE} est la signature de manifest.json ; vérification avec la clé publique de "
                "l'Observatoire, voir README.md.")
    return ("version non signée : les empreintes détectent une altération accidentelle, mais rien ne prouve qui "
            "a produit ces fichiers.")


def _readme_signature(doc: dict) -> str:
    """The README's section on the signature (French): how to check it with our tool and with OpenSSL alone."""
    sig = signature_info(doc)
    v = doc["version"]
    if not sig.get("signed"):
        return """
## Signature

Cette version **n'est pas signée** (`manifest.json`, rubrique `signature` : `"signed": false`). Les empreintes
ci-dessus détectent une corruption accidentelle, mais pas une modification volontaire : quelqu'un qui change un
fichier peut aussi mettre à jour `manifest.json` et `SHA256SUMS`. Rien ne prouve donc qui a produit ces fichiers ;
pour une version signée, demandez-la à l'Observatoire.
"""
    fp = sig.get("key_fingerprint")
    return f"""
## Vérifier la signature

Cette version est **signée** par l'Observatoire ({sig.get('algorithm')}) : `{SIGNATURE}` est la signature de
`manifest.json`, octet pour octet, et `manifest.json` donne l'empreinte sha256 de chaque fichier. Une signature
valide prouve donc que l'ensemble a été produit par le détenteur de la clé et n'a pas changé depuis, même si
quelqu'un avait modifié un fichier en mettant à jour `manifest.json` et `SHA256SUMS`.

Empreinte de la clé de signature : **`{fp}`**.

Procurez-vous la clé publique de l'Observatoire (`snapshot.pub`) par un autre canal que ces fichiers (une clé
jointe à l'édition ne prouverait rien), et vérifiez que son empreinte est bien `{fp}` :

```sh
openssl pkey -pubin -in snapshot.pub -outform DER | tail -c 32 | sha256sum | cut -c1-16
```

(macOS : `shasum -a 256` au lieu de `sha256sum`, ici et plus bas ; l'`openssl` livré avec macOS est souvent
LibreSSL : installez OpenSSL 3, par exemple avec Homebrew.)

Avec l'outil de l'observatoire :

```sh
observatoire snapshot verify {v} --public-key snapshot.pub
```

Sans lui, avec OpenSSL 3.0 ou plus récent (`openssl version`), dans ce dossier :

```sh
openssl base64 -d -A -in {SIGNATURE} -out /tmp/{SIGNATURE}.bin          # la signature brute (64 octets)
openssl pkeyutl -verify -pubin -inkey snapshot.pub -rawin -in manifest.json -sigfile /tmp/{SIGNATURE}.bin
# attendu : « Signature Verified Successfully » ; puis chaque fichier contre manifest.json (signé) :
jq -r '.files[] | "\\(.sha256)  \\(.path)"' manifest.json | sha256sum -c -
# sans jq : python3 -c 'import json; [print(f["sha256"] + "  " + f["path"]) for f in json.load(open("manifest.json"))["files"]]' | sha256sum -c -
```

`SHA256SUMS` n'est pas signé : il sert à repérer une copie abîmée ; la preuve d'origine passe par
`manifest.json` et sa signature. Une version plus ancienne peut être signée avec une clé précédente de
l'Observatoire : vérifiez-la avec la clé publique dont l'empreinte figure ci-dessus.
"""


def _readme(doc: dict, db_name: str) -> str:
    pub = doc["publication"]
    v = doc["version"]
    demo = _is_demo(doc)
    warning = f"\n> **{_demo_warning()}**\n" if demo else ""
    title_demo = f" — {DEMO_NOTICE}" if demo else ""
    correction = ""
    if doc.get("correction"):
        c = doc["correction"]
        correction = (f"\n## Correction\n\nCette version corrige la version {c['corrige']}, qui reste disponible "
                      f"et inchangée.\n\n- Motif : {c['motif']}\n- Changements : {(c.get('changements') or {}).get('resume')}"
                      "\n  (détail dans `manifest.json`, rubrique `correction`).\n")
    sources = "\n".join(f"| {s['source_id']} | {s['millesime']} | {s['editeur'] or ''} | {s['licence'] or ''} |"
                        for s in doc["sources"])
    tables = "\n".join(f"| `{t}` | {i['rows']} |" for t, i in doc["tables"].items())
    site = doc.get("site") or {}
    contours = ("- `dim_qpv_contour.geometrie_wkb` : le contour de chaque QPV en WKB (binaire) dans Parquet et DuckDB,\n"
                "  en hexadécimal dans le CSV (DuckDB spatial : `ST_GeomFromHEXWKB(geometrie_wkb)`) ; il ne figure pas "
                "dans le classeur.\n" if "dim_qpv_contour" in doc["tables"] else "")
    site_files = f" ; {site['fichiers']} fichiers" if site.get("fichiers") else ""
    n_part = len(doc.get("fichiers_partenaires") or [])
    partenaires = (f" ; les {n_part} fichiers transmis par les partenaires (indicateur, millésime, partenaire, "
                   "empreinte) dans la rubrique `fichiers_partenaires`" if n_part else "")
    sig_row = (f"| `{SIGNATURE}` | signature de `manifest.json` par l'Observatoire (Ed25519, base64), clé "
               f"`{signature_info(doc).get('key_fingerprint')}` : voir « Vérifier la signature » |\n"
               if signature_info(doc).get("signed") else "")
    return _TEMPLATES.get_template("README.md.j2").render(
        doc=doc, pub=pub, v=v, db_name=db_name, title_demo=title_demo, warning=warning, correction=correction,
        territoire_de=_territoire(pub.get("perimetre"), de=True), territoire_court=_territoire_short(pub.get("perimetre")),
        site_files=site_files, sig_row=sig_row, tables=tables, contours=contours, sources=sources,
        partenaires=partenaires, signature=_readme_signature(doc),
        statuts="\n".join(f"  - `{k}` : {t}" for k, t in _STATUTS.items()),
        SITE_DIR=SITE_DIR, LATEST_SHEET=LATEST_SHEET, LATEST_TABLE=LATEST_TABLE, EVALUATION_TABLE=EVALUATION_TABLE,
        DICTIONARY_SHEET=DICTIONARY_SHEET)


