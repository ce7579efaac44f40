"""The demo-mart generator and its parts (population, behaviour, billing, market, truths)."""
