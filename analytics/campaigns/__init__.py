"""Campaign effect, matched controls, calendar conflicts and communications planning."""
