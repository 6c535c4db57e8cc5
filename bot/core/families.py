"""Risk families and their weights, and the waiver warning window.

Small constants shared by the decision code and the renderings (which must stay cheap to import,
to re-render stored packs).
"""

from __future__ import annotations

from collections.abc import Mapping

# Weights sum to 100: each family's points are capped at its weight.
RISK_FAMILIES: Mapping[str, int] = {
    "privilege": 20,
    "supply-chain": 15,
    "vulnerabilities": 15,
    "exploitability": 10,
    "data-access": 10,
    "blast-radius": 10,
    "operational": 10,
    "history": 10,
}

# A waiver this close to its expiry is called out in the comment.
EXPIRING_WITHIN_DAYS = 14
