"""Customer, channel and group net value and ROI bands."""
