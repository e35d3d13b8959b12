"""Computed baromètres (issue 20): pure, tested methods on open data, no network, no database.

* :mod:`extract.calcules.carroyage` — INSEE Filosofi 200 m grid: parse it, split each square's population
  between QPV by area (the denominator of the spatial baromètres), communes and Métropole as comparators.
* :mod:`extract.calcules.gtfs` — GTFS feeds: stops served in a reference week; share of the population within
  300 m of a served stop (``part_pop_arret_tc_300m``).
* :mod:`extract.calcules.proximite` — BPE equipments of the « gamme de proximité »: population-weighted mean
  distance to the nearest equipment of each type, share of types within 1 km
  (``distance_equipements_gamme_proximite``).

Every distance and area is computed in EPSG:3035 (ETRS89-LAEA, equal-area, metres), the grid's own CRS.
The methods are described in French in ``docs/methodes.md``.
"""
