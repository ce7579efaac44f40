"""Sections of individual pages (forms, panels, views), kept out of the page files so those stay short."""
