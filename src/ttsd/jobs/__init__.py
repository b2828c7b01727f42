"""Long-form jobs: durable, resumable synthesis of long texts (audiobooks, prompt sets) at background priority.

:class:`~ttsd.jobs.service.JobService` is the facade the API uses; see ``docs/jobs.md``.
"""
