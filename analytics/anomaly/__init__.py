"""Causal anomaly scores for KPI series, their expected values, and alerts from them.

Public entry point: :func:`anomaly_scores` (``analytics.anomaly.anomaly_scores``).
"""

from analytics.anomaly.scores import DEFAULT_THRESHOLD, AnomalyDetector, anomaly_scores, scores_from_z

__all__ = ["DEFAULT_THRESHOLD", "AnomalyDetector", "anomaly_scores", "scores_from_z"]
