"""The credit domain: subjects, records, rule sets and the points engine."""
