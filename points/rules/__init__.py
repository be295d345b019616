"""Rule sets and the engine: a rule set's data (the shipped one is changsha-2020.toml here) and its
validation, the versions stored and activated by the credit office, the preview of a version's
effect, and the pure points engine (records and a rule set in, points and why out)."""
