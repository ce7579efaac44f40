"""What the loader checks before it writes anything: columns, types, codes and ranges
(``validation``), group lines' lives (``group_lines``), totals and the write lock
(``load_guards``)."""
