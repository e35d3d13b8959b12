"""``observatoire partenaires …``: templates, validation and import of partner files (issue 8).

    observatoire partenaires modele INDICATEUR [--format xlsx|csv] [--sortie CHEMIN] [--millesime ANNEE]
    observatoire partenaires valider FICHIER
    observatoire partenaires importer FICHIER [--remplacer] [--accepter-rupture MOTIF]
    observatoire partenaires liste [--json]

Exit status: 0 valid / imported / already imported, 1 invalid or refused (nothing loaded), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _settings():
    from observatoire.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


@click.group()
def partenaires() -> None:
    """Partner data: templates, validation and import of the baromètres no open source provides.

    Files dropped in $OBSERVATOIRE_DATA_DIR/partenaires/inbox/ are processed by the Airflow DAG
    observatoire_partenaires; these commands do the same by hand. Documentation: docs/partenaires.md.
    """


@partenaires.command()
@click.argument("indicateur")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True,
              help="Format du modèle.")
@click.option("--sortie", type=click.Path(path_type=Path), default=None,
              help="Fichier à écrire, ou dossier où écrire modele_<indicateur>.<format> (défaut : dossier courant).")
@click.option("--millesime", type=int, default=None, help="Pré-remplir la colonne millesime avec cette année.")
def modele(indicateur: str, fmt: str, sortie: Path | None, millesime: int | None) -> None:
    """Écrire le modèle à remplir pour INDICATEUR (un baromètre attendu des partenaires) et afficher son chemin."""
    from observatoire.partenaires.template import write_template

    settings = _settings()
    try:
        path = write_template(indicateur, fmt, sortie, perimetre=settings.perimetre, millesime=millesime)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    click.echo(str(path.resolve()))


@partenaires.command()
@click.argument("fichier", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def valider(fichier: Path) -> None:
    """Vérifier FICHIER sans rien charger ; affiche le rapport (toutes les erreurs, avec feuille, ligne et colonne).

    Code de sortie 0 si le fichier est valide (des avertissements sont possibles), 1 sinon.
    """
    from observatoire.partenaires.validation import validate_file

    settings = _settings()
    report = validate_file(fichier, perimetre=settings.perimetre)
    click.echo(report.text(), nl=False)
    sys.exit(0 if report.ok else 1)


@partenaires.command()
@click.argument("fichier", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--remplacer", is_flag=True,
              help="Remplacer le fichier déjà importé pour le même indicateur et millésime (l'ancien reste dans "
                   "l'historique).")
@click.option("--accepter-rupture", "rupture", metavar="MOTIF",
              help="Accepter un écart voulu avec le fichier précédent de l'indicateur (nouvelle méthode, nouveau "
                   "périmètre) : les écarts ne sont plus qu'avertis et la rupture de série est enregistrée.")
def importer(fichier: Path, remplacer: bool, rupture: str | None) -> None:
    """Vérifier puis charger FICHIER ; ses valeurs sont publiées au prochain `observatoire run`.

    Réimporter le même fichier ne change rien (code 0). Un autre fichier pour un indicateur et un millésime déjà
    reçus est refusé sans --remplacer (code 1). Un fichier avec une erreur ne charge rien (code 1).
    """
    from observatoire.locking import LockTimeout
    from observatoire.partenaires.store import import_file

    settings = _settings()
    try:
        if rupture is not None and not rupture.strip():
            raise click.UsageError("--accepter-rupture demande un motif (pourquoi la série change)")
        result = import_file(settings, fichier, remplacer=remplacer, rupture=rupture.strip() if rupture else None)
    except LockTimeout as err:
        click.echo(f"IMPORT NON EFFECTUÉ : {err}", err=True)
        sys.exit(1)
    click.echo(result.text(), nl=False)
    sys.exit(0 if result.ok else 1)


@partenaires.command("liste")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.option("--historique", is_flag=True, help="Inclure les fichiers remplacés.")
def liste(as_json: bool, historique: bool) -> None:
    """Les fichiers partenaires chargés : indicateur, millésime, partenaire, reçu le, lignes."""
    from observatoire.history import History

    settings = _settings()
    if not settings.history_db.exists():
        rows = []
    else:
        history = History(settings.history_db)
        rows = history.partner_files() if historique else history.current_partner_files()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("aucun fichier partenaire chargé")
        return
    for r in rows:
        flag = "" if r["status"] == "current" else f"  (remplacé le {r['replaced_at']})"
        click.echo(f"{r['indicateur']:<40} {r['millesime']}  {r['partenaire'][:40]:<40} {r['received_at']}  "
                   f"{r['valeurs']}/{r['rows']} valeurs  {r['nom_fichier']}  {r['sha256'][:12]}{flag}")
