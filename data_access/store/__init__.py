"""The workflow store: users, audit, scope, work orders, budgets, arsenal, plans, intelligence, comms, templates, runs and alerts."""
