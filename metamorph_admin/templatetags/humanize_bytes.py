from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter
def filesize(value):
    return filesizeformat(value) if value is not None else "—"


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)
