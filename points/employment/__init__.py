"""Workers and the checks of a person's credit: a worker's profile and safety code (安心码), the
credit report a worker shares with a client (text, web page, PDF, QR code), and departments'
credit checks before handling a matter (逢办必查) with the occupational credit file."""
