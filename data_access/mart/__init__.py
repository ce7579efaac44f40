"""The analytic mart: schema, engines' statements, reads, summaries, builds and the loader."""
