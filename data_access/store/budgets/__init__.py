"""Budgets in the workflow store: the tree, bookings, allocation, alerts and demo seed."""
