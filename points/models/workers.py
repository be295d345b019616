"""Worker profiles, report shares, reviews and credit checks (issue 6)."""
