"""The KPI registry, the KPI tree and the drill."""
