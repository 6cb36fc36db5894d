"""Every HTML page shows text from a Metamorph file (vault ids above all) with control, bidi and
zero-width characters escaped: Django's autoescape makes text safe for HTML, not for the eye (a
right-to-left override reorders the row it is in; a zero-width space makes two ids look alike).
"""

from metamorph.identifiers import shown

# Tabs, newlines and carriage returns are the page's own (and a textarea's posted \r\n).
PAGE_KEEPS = "\t\n\r"


class EscapeUnsafeCharactersMiddleware:
    """Rewrites HTML responses (not downloads: a signed report is escaped when written)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.streaming
            or not response.get("Content-Type", "").startswith("text/html")
            or response.get("Content-Disposition", "").startswith("attachment")
        ):
            return response
        charset = response.charset or "utf-8"
        text = response.content.decode(charset, errors="surrogateescape")
        cleaned = shown(text, PAGE_KEEPS)
        if cleaned != text:
            response.content = cleaned.encode(charset, errors="backslashreplace")
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
