"""What every benchmark prints beside its figures: the machine and how busy it was."""

from __future__ import annotations

import os
from typing import Any


def machine() -> dict[str, Any]:
    """CPU count and load averages (1, 5, 15 minutes) at the time of the call."""
    one, five, fifteen = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_average_1m": round(one, 2),
        "load_average_5m": round(five, 2),
        "load_average_15m": round(fifteen, 2),
    }


def ratio(figure: float, floor: float) -> float:
    """`figure / floor`, rounded for printing; infinite when the floor is zero."""
    return round(figure / floor, 3) if floor else float("inf")
