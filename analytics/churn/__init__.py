"""Churn prediction: features, the model, its evaluation, reasons and the retention list.

Public entry point: :class:`ChurnModel` (``analytics.churn.ChurnModel``). Training and scoring
against the mart are jobs: ``python -m jobs.churn train|score|report``.
"""

from analytics.churn.model import MODEL_FORMAT, ChurnModel

__all__ = ["MODEL_FORMAT", "ChurnModel"]
