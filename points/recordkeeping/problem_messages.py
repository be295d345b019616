"""The problems ingestion writes about a rejected record, as people read them.

A problem is `{"dimension", "field", "message"}`: the dimension (completeness,
validity, accuracy, timeliness) and the field are for machines and never change with
the language; the message is written in English — in the answer to the department and
in its quality issue, as stored — and shown in the reader's language where it is read
(the API's `ProblemSchema`, the console's rejected rows), by `points.i18n.translate_text`,
which also finds the values filled into a message. Stored issues are translated the same
way, whenever they were written.

The messages `points.recordkeeping.ingestion` writes in place are marked for the catalog here; the
others are marked where they are made (`points.rules.engine`, `points.rules.rulesets`,
`points.people.identity`, the constants of `points.recordkeeping.ingestion`). tests/unit/test_problem_messages.py
fails when ingestion writes a message the catalog does not have.
"""
from __future__ import annotations

from points.i18n import N_

INGESTION = (
    N_("must be a date YYYY-MM-DD"),
    N_("must be an object"),
    N_("is required"),
    N_("is required (id_number and name)"),
    N_("at most 100 characters"),
    N_("unknown field"),
    N_("must be a string"),
    N_("must be a name of at most 50 characters"),
    N_("unknown record type {record_type!r}"),
    N_("department {department!r} may not report {record_type!r}"),
    N_("is in the future"),
    N_("is before occurred_on"),
    N_("appears twice in this batch"),
    N_("does not match the name bound to this ID number"),
    N_("numbers must be finite (no NaN or Infinity)"),
    N_("integers must fit in 64 bits"),
    # A quality issue's resolution note when a resend fixed it.
    N_("corrected by a resend accepted in batch {batch_id}"),
)
