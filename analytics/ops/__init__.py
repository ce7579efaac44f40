"""Pure rules of the act step: work-order states, budget arithmetic, arsenal levels."""
