"""HTML cleaning: the one module that imports bleach. User text is cleaned once, on write."""

import html
import re

import bleach

RICH_TAGS = {"p", "br", "ul", "ol", "li", "strong", "b", "em", "i", "a"}
RICH_ATTRIBUTES = {"a": ["href", "title"]}
RICH_PROTOCOLS = {"http", "https", "mailto"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(value: str | None, max_length: int | None = None) -> str:
    """VALUE with every tag removed (and control characters dropped), as plain text for storage.

    Templates escape it on output, so text such as "a < b" survives; markup never runs."""
    if value is None:
        return ""
    text = _CONTROL.sub("", str(value)).strip()
    if "<" in text:  # bleach is slow; most text has no markup at all
        text = html.unescape(bleach.clean(text, tags=set(), strip=True, strip_comments=True))
        text = re.sub(r"<[^>]*>", "", text)  # what unescaping may have turned back into tags
    if max_length is not None:
        text = text[:max_length]
    return text


def rich_html(value: str | None) -> str:
    """VALUE cleaned to the small rich-text subset (paragraphs, lists, bold, links); safe to render."""
    if not value:
        return ""
    cleaned = bleach.clean(
        _CONTROL.sub("", value),
        tags=RICH_TAGS,
        attributes=RICH_ATTRIBUTES,
        protocols=RICH_PROTOCOLS,
        strip=True,
        strip_comments=True,
    )
    return bleach.linkify(cleaned, callbacks=[bleach.callbacks.nofollow]) if "http" in cleaned else cleaned


SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (CSV/Excel injection)."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA_START):
        return "'" + value
    return value
