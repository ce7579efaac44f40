"""Multi-dimensional root-cause localisation for additive and ratio KPIs.

Public entry points: :func:`localize` and :func:`localize_ratio` (method in docs/rootcause.md).
"""

from analytics.rootcause.localiser import (RootCause, RootCauseWarning, localize, localize_detailed,
                                           localize_ratio, localize_ratio_detailed)

__all__ = ["RootCause", "RootCauseWarning", "localize", "localize_detailed", "localize_ratio", "localize_ratio_detailed"]
