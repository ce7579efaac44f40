"""Pieces shared by pages: global filters, KPI cards, maps and tables."""
