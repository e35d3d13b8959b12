"""Adding a source's indicator model is not enough by itself: ``int_indicateurs_qpv`` unions the
``int_indicateurs__<source>`` models listed by the macro ``modeles_indicateurs()``, which
``dbt_project/scripts/generate_marts.py`` writes from the models present. A model left out of it would publish
``non_publie`` instead of its values without any error: this test makes the omission fail."""

from __future__ import annotations

import re
from pathlib import Path

DBT = Path(__file__).resolve().parents[2] / "dbt_project"
INTERMEDIATE = DBT / "models" / "intermediate"


def listed_models(dbt: Path = DBT) -> list[str]:
    """The models the macro ``modeles_indicateurs()`` lists."""
    sql = (dbt / "macros" / "modeles_indicateurs.sql").read_text(encoding="utf-8")
    block = re.search(r"return\(\[(.*?)\]\)", sql, re.DOTALL)
    assert block, "macros/modeles_indicateurs.sql no longer returns a list of models"
    return re.findall(r"'([^']+)'", block.group(1))


def missing_models(dbt: Path = DBT) -> list[str]:
    models = sorted(p.stem for p in (dbt / "models" / "intermediate").glob("int_indicateurs__*.sql"))
    return sorted(set(models) - set(listed_models(dbt)))


def test_every_per_source_indicator_model_is_unioned():
    union = (INTERMEDIATE / "int_indicateurs_qpv.sql").read_text(encoding="utf-8")
    assert re.search(r"for model in modeles_indicateurs\(\)", union), \
        "int_indicateurs_qpv.sql no longer unions the models of modeles_indicateurs()"
    missing = missing_models()
    assert not missing, (f"int_indicateurs_qpv.sql does not union {missing}: run "
                         "python dbt_project/scripts/generate_marts.py, or their values are published as non_publie")
    listed = listed_models()
    models = {p.stem for p in INTERMEDIATE.glob("int_indicateurs__*.sql")}
    unknown = sorted(set(listed) - models)
    assert not unknown, f"modeles_indicateurs() lists models that do not exist: {unknown}"
    assert len(listed) == len(set(listed)), "a model is listed twice (its values would be counted twice)"


def test_comparators_scale_the_computed_rates_like_the_computation():
    """``int_comparateurs`` sums the communes' numerators and denominators of the computed baromètres and scales
    the perimeter's ratio by hand: a rate (factor 100 in ``observatoire.calculs.FACTEURS``) left out of its list
    would publish a perimeter comparator 100 times too small."""
    from observatoire.calculs import FACTEURS, INDICATEUR_ABST

    sql = (INTERMEDIATE / "int_comparateurs.sql").read_text(encoding="utf-8")
    case = re.search(r"case when indicateur in \(([^)]*)\) then 100 else 1 end", sql)
    assert case, "int_comparateurs.sql no longer scales the computed rates with `case when indicateur in (...)`"
    scaled = set(re.findall(r"'([^']+)'", case.group(1)))
    # the abstention gap has no perimeter comparator (its reference is its own computation, excluded there)
    expected = {ind for ind, f in FACTEURS.items() if f == 100.0 and ind != INDICATEUR_ABST}
    assert scaled == expected
    assert all(f in (1.0, 100.0) for f in FACTEURS.values())
