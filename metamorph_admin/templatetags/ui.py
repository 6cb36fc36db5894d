"""The one number, size, time and code format of every page (see metamorph_admin.formatting).

{% load ui %}  {{ n|num }}  {{ bytes|size }}  {{ moment|when }}  {{ text|code }}  {{ v|plain }}
"""

from django import template

from metamorph_admin import formatting, selectors

register = template.Library()

register.filter("num", formatting.num)
register.filter("size", formatting.size)
register.filter("when", formatting.when)
register.filter("code", formatting.code, needs_autoescape=True)
register.filter("plain", formatting.plain)
register.filter("pairs", formatting.pairs)
register.filter("get_item", formatting.get_item)
register.filter("outcome_line", selectors.outcome_line)
