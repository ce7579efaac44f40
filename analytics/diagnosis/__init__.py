"""Mind-map diagnosis templates and their runs."""
