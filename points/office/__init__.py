"""The credit office and the departments: departments and their API keys, the department
assessment, the holiday calendar and Chinese working days, and the audit trail of every admin
and department action."""
