"""Command-line and scheduled work that ties the stores to analytics (scan, dispatch, run-due, churn, campaign effects)."""
