from django.contrib import admin

from metamorph_admin.models import AuditRecord, Job, MutationLock


class ReadOnly(admin.ModelAdmin):
    """History is written by the services only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(ReadOnly):
    list_display = ["id", "kind", "state", "actor", "origin", "created_at", "finished_at"]
    list_filter = ["kind", "state", "origin"]


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnly):
    list_display = ["at", "actor", "origin", "action", "outcome", "target", "job"]
    list_filter = ["action", "outcome", "origin"]
    search_fields = ["actor", "target", "message"]


@admin.register(MutationLock)
class MutationLockAdmin(admin.ModelAdmin):
    """Listed so a superuser can see who holds a database; a stale lock frees itself."""

    list_display = ["db_path", "job", "pid", "hostname", "acquired_at", "heartbeat_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
