"""The task backend of an operation command's process (metamorph_admin/process.py).

Such a command runs its work in its own process and queues nothing; the tasks defined in the
modules it imports are still validated when they are defined, against the capabilities the
site's queue (django-tasks-db) has, so a task that the queue would refuse is refused here too.
Queueing from such a process is a programming error, refused with a message saying why, never
a task that silently stays in memory (Django's DummyBackend) or runs here by surprise."""

from django.tasks.backends.base import BaseTaskBackend


class QueueingRefused(RuntimeError):
    pass


class NoQueueInCommands(BaseTaskBackend):
    supports_async_task = True
    supports_get_result = False
    supports_defer = True
    supports_priority = True

    def enqueue(self, task, args, kwargs):
        raise QueueingRefused(
            f"{task.name} was queued from an operation command's process, which has no "
            "queue: such a command runs its work itself (metamorph_admin/process.py)."
        )
