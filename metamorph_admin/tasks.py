"""django.tasks entry points: one line each, calling a service."""
from django.tasks import task

from metamorph_admin import jobs


@task
def run_job_task(job_id):
    jobs.run_queued_job(job_id)
