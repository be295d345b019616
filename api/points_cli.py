"""`flask --app wsgi points …`: recompute, sweep."""
from __future__ import annotations

import click
from flask import Flask


def register_points_cli(app: Flask) -> None:
    @app.cli.group("points")
    def points_group():
        """Scores: recompute from records, daily sweep."""

    @points_group.command("recompute")
    @click.option("--all", "everyone", is_flag=True, help="every subject")
    @click.option("--subject", "subject_id", type=int, help="one subject id")
    @click.option("--jobs", "parts", type=int, default=0,
                  help="cut --all into this many subject-range jobs for RQ workers")
    def recompute(everyone: bool, subject_id: int | None, parts: int):
        """Rebuild scores from records; reports stored scores that differed."""
        from api.context import state
        from points.infra.db import today
        from points.scores import jobs

        if everyone == (subject_id is not None):
            raise click.UsageError("give either --all or --subject ID")
        st = state()
        if parts:
            if not everyone:
                raise click.UsageError("--jobs goes with --all")
            from api.jobs_runner import enqueue_split

            with st.db.new_session() as session, session.begin():
                job, ranges = jobs.start_split_recompute(session, parts, "cli")
            enqueue_split(job.id, ranges)
            click.echo(f"job {job.id}: {len(ranges)} parts queued on 'recompute' "
                       "(run `flask --app wsgi worker --queue recompute`)")
            return

        def show(progress: jobs.Progress) -> None:
            click.echo(f"  {progress.done}/{progress.total} subjects, "
                       f"{progress.changed} differed", err=True)

        progress = jobs.recompute_all(st.db.new_session, st.redis, today(),
                                      subject_ids=None if everyone else [subject_id],
                                      on_progress=show)
        click.echo(f"recomputed {progress.done} subjects; {progress.changed} stored scores "
                   f"differed; {len(progress.errors)} errors")
        for error in progress.errors:
            click.echo(f"  error: {error}")

    @points_group.command("sweep")
    def sweep():
        """Recompute subjects whose windows opened or closed; purge expired records and
        Idempotency-Key rows."""
        from flask import current_app

        from api import idempotency, idempotency_rows
        from api.context import state
        from api.jobs_runner import enqueue_rule_set_job
        from points.infra.db import today
        from points.rules import rule_admin
        from points.scores import jobs

        st = state()
        result = jobs.sweep(st.db.new_session, st.redis, today(),
                            access_log_retention_days=current_app.config[
                                "ACCESS_LOG_RETENTION_DAYS"])
        with st.db.new_session() as session, session.begin():
            result["purged_idempotency_keys"] = idempotency_rows.purge_expired(
                session, idempotency.ttl())
        with st.db.new_session() as session:
            stuck = rule_admin.queued_jobs(session)
        if stuck:
            for job_id in stuck:  # queued while Redis was down: queue them again
                enqueue_rule_set_job(job_id)
            result["requeued_jobs"] = len(stuck)
        click.echo("sweep: " + ", ".join(f"{k} {v}" for k, v in result.items()))

    @points_group.command("verify")
    def verify():
        """Recompute every score from records; exit 1 if a stored or cached score differs."""
        from api.context import state
        from points.infra.db import today
        from points.scores import maintenance

        st = state()
        result = maintenance.verify(st.db.new_session, st.redis, today())
        for line in result.differences:
            click.echo(f"  differs: {line}")
        click.echo(f"verified {result.checked} scores; {len(result.differences)} differences")
        if result.differences:
            raise SystemExit(1)

    @app.cli.command("rotate-data-key")
    def rotate_data_key():
        """Re-encrypt personal data under the newest DATA_KEY (list it first, old ones after)."""
        from api.context import state
        from points.scores import maintenance

        st = state()
        count = maintenance.rotate_data_key(st.db.new_session, st.cipher)
        click.echo(f"re-encrypted {count} rows under the newest key")
