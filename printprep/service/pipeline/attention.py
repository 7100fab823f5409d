"""``needs_attention``: the questions only a person can answer, decided from a check report.

A job stops for a person when repair could not make its mesh sound, or when walls are
below the casting minimum:

- with an alloy named (the job's, else ``[pipeline] alloy``), any wall thinner than that
  alloy's casting minimum stops it;
- with no alloy named, walls under the general minimum (0.6 mm) are a warning in the
  report and the event log, and only walls under the printer's own floor (a problem of
  the check, the report not printable) stop it.

An approved job (``approve``) goes on past these questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Attention(Exception):
    """A person must decide; the message says what, and how to go on."""


@dataclass(frozen=True)
class Question:
    """What a check report asks of a person.

    ask : why the job stops (None: it goes on).
    note : an event message for the job's log when it goes on with thin walls (None: none).
    thin_regions : the check's thin regions (JSON data), for the note's event data.
    problems : the check's problems (the report's ``attention`` section when it stops).
    """

    ask: str | None
    note: str | None
    thin_regions: list[dict[str, Any]]
    problems: list[str]

    def message(self) -> str:
        """The job's error text while it waits: the question, the problems, what to do."""
        return (
            f"{self.ask}: " + ("; ".join(self.problems[:5]) or "see the report")
            + ". Approve to print it anyway, or reject it."
        )


def sound(facts: dict[str, Any]) -> bool:
    """Closed, consistently wound, manifold and not crossing itself (missing facts count
    as sound: a check that did not look cannot object)."""
    return bool(
        facts.get("watertight", True)
        and facts.get("winding_consistent", True)
        and not facts.get("non_manifold_edges")
        and not facts.get("boundary_edges")
        and not facts.get("self_intersecting_faces")
    )


def question(facts: dict[str, Any], alloy: str | None) -> Question:
    """What the check report ``facts`` (``CheckReport.to_dict()`` as JSON data, made with
    ``alloy``) asks of a person before the job goes on.

    Uses ``thin_regions`` (each with ``min_thickness_mm``, mm), ``wall_limit_mm`` (the
    casting minimum the check applied, mm), ``problems`` and ``printable``.
    """
    problems = [str(p) for p in (facts.get("problems") or [])]
    printable = facts.get("printable", True)
    thin = list(facts.get("thin_regions") or [])
    limit_mm = facts.get("wall_limit_mm")
    too_thin = [
        r for r in thin
        if alloy and limit_mm is not None and r.get("min_thickness_mm", 0) < limit_mm
    ]
    ask = note = None
    if not sound(facts):
        ask = "the mesh could not be made sound automatically"
    elif too_thin:
        worst = min(too_thin, key=lambda r: r.get("min_thickness_mm", 0))
        ask = (
            f"walls below the casting minimum for {alloy}: the thinnest is "
            f"{worst['min_thickness_mm']:.2f} mm where {alloy} needs {limit_mm} mm "
            f"({len(too_thin)} thin region{'s' if len(too_thin) != 1 else ''})"
        )
    elif thin and not printable:
        ask = "walls below what the printer can form"
    elif not printable:
        ask = "the mesh is not printable as it is"
    elif thin:
        thinnest = min(r.get("min_thickness_mm", 0) for r in thin)
        note = (
            f"walls down to {thinnest:.2f} mm, under the general casting minimum "
            f"{limit_mm} mm; no alloy was named, so the job goes on (name an alloy "
            "to have thin walls stop it)"
        )
    return Question(ask=ask, note=note, thin_regions=thin, problems=problems)
