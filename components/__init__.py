"""Pure functions that build component trees: no callbacks, no I/O."""
