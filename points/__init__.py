"""The credit domain, no Flask: one folder per part (rules, recordkeeping, scores,
workflows, employment, people, office), the plumbing they use (infra), the tables
(models), and beside them the domain's errors, its messages (i18n) and date arithmetic."""
