"""A crawler for leak tests: everything a logged-in user can reach, as text, to search for markers.

`crawl(client)` starts from "/" and follows, breadth first, every same-site link (a href, hx-get,
img src, iframe src) and every GET form submitted with its default values, skipping logout, the
language switch and static files, up to a cap. Downloads are read as text: CSV and JSON as they are,
XLSX/DOCX unzipped into the text of their XML parts, with the Content-Disposition header kept.
`api_texts(client, token)` adds the JSON answers about the user's problems, `inbox_texts(user_id)`
the user's notifications and e-mails. `find(texts, markers)` says where a marker shows.
"""

import io
import json
import re
import zipfile
from collections import deque
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

SKIP_PATHS = ("/logout", "/lang/", "/static/", "/favicon.ico")
ZIP_TYPES = ("openxmlformats", "application/zip", "application/vnd.ms-excel")


class _Links(HTMLParser):
    """The links and GET forms of one HTML page (forms as (action, [(name, value)]))."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[tuple[str, list]] = []
        self._form = None  # [action, fields, is_get]
        self._select = None  # [name, first value, selected value]
        self._option = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("href", "hx-get", "src", "data-href"):
            if a.get(name) and tag in ("a", "img", "iframe", "div", "span", "button", "tr", "td", "li", "select"):
                self.links.append(a[name])
        if tag == "form":
            self._form = [a.get("action") or "", [], (a.get("method") or "get").lower() == "get"]
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form[1].append((a["name"], a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select = [a["name"], None, None]
        elif tag == "option" and self._select is not None:
            value = a.get("value")
            self._option = value
            if value is not None:
                if self._select[1] is None:
                    self._select[1] = value
                if "selected" in a:
                    self._select[2] = value
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None and self._form is not None:
            name, first, selected = self._select
            value = selected if selected is not None else first
            if value is not None:
                self._form[1].append((name, value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form[1].append(tuple(self._textarea))
            self._textarea = None
        elif tag == "form" and self._form is not None:
            action, fields, is_get = self._form
            if is_get:
                self.forms.append((action, fields))
            self._form = None


def zip_text(data: bytes) -> str:
    """The text of every XML part of an XLSX/DOCX file (tags dropped, entities kept as written)."""
    parts = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.endswith((".xml", ".rels")):
                xml = archive.read(name).decode("utf-8", "replace")
                parts.append(xml)
                parts.append(re.sub(r"<[^>]+>", " ", xml))
    return "\n".join(parts)


def response_text(response) -> str:
    """A response as searchable text: the headers that reach the user, then the body."""
    kind = response.headers.get("Content-Type", "")
    head = " ".join(f"{k}: {v}" for k, v in response.headers.items() if k in ("Content-Disposition", "Location"))
    data = response.get_data()
    if any(t in kind for t in ZIP_TYPES) or data[:2] == b"PK":
        try:
            return head + "\n" + zip_text(data)
        except zipfile.BadZipFile:
            pass
    return head + "\n" + data.decode("utf-8", "replace")


def _normalise(url, base):
    """The same-site path?query of URL seen from BASE, or None for another site or a skipped path."""
    if not url or url.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    parts = urlsplit(urljoin(base, url.strip()))
    if parts.scheme not in ("http", "https", "") or parts.netloc not in ("", "localhost"):
        return None
    path = parts.path or "/"
    if path.startswith(SKIP_PATHS):
        return None
    # One spelling per query: empty fields dropped, fields in order (a form and a link agree).
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if v != ""))
    return urlunsplit(("", "", path, query, ""))


class Crawl(dict):
    """{url: text} in the order visited; `complete` is False when the cap stopped the crawl."""

    complete = True


def crawl(client, start="/", *, limit=300, per_path=25, extra=()):
    """Fetch every page reachable from START (and EXTRA). Returns a Crawl {url: text}, with
    non-HTML answers (CSV, XLSX, JSON) read as text too. Every path is fetched; of its query
    strings (filters, sorting, pages) the first PER_PATH found. Stops at LIMIT fetches."""
    queue = deque([start, *extra])
    seen = set(queue)
    variants: dict[str, int] = {}
    texts = Crawl()
    while queue and len(texts) < limit:
        url = queue.popleft()
        response = client.get(url)
        texts[url] = f"[{response.status_code}]\n" + response_text(response)
        html = response.get_data(as_text=True) if "text/html" in response.headers.get("Content-Type", "") else None
        response.close()  # downloads are sent from temporary files
        found = []
        if response.status_code in (301, 302, 303, 307, 308):
            found.append(response.headers.get("Location"))
        elif html is not None:
            parser = _Links()
            parser.feed(html)
            found.extend(parser.links)
            for action, fields in parser.forms:
                target = _normalise(action or url, "http://localhost" + url)
                if target is None:
                    continue
                path = target.split("?", 1)[0]
                found.append(path + ("?" + urlencode(fields) if fields else ""))
        for link in found:
            target = _normalise(link, "http://localhost" + url)
            if target is None or target in seen:
                continue
            path = target.split("?", 1)[0]
            if "?" in target and variants.get(path, 0) >= per_path:
                continue
            variants[path] = variants.get(path, 0) + ("?" in target)
            seen.add(target)
            queue.append(target)
    texts.complete = not queue
    return texts


def api_texts(client, token, *, limit=200):
    """The JSON API's answers for the token's user: every problem list page, each problem, its alerts."""
    headers = {"Authorization": f"Bearer {token}"}
    texts = {}
    numbers = []
    url = "/api/v1/problems"
    while url and len(texts) < limit:
        response = client.get(url, headers=headers)
        texts[url] = f"[{response.status_code}]\n" + response.get_data(as_text=True)
        body = response.get_json(silent=True) or {}
        numbers.extend(item["number"] for item in body.get("items", []))
        cursor = body.get("next_cursor")
        url = f"/api/v1/problems?cursor={cursor}" if cursor else None
    for number in numbers:
        for path in (f"/api/v1/problems/{number}", f"/api/v1/alerts?problem={number}"):
            response = client.get(path, headers=headers)
            texts[path] = f"[{response.status_code}]\n" + response.get_data(as_text=True)
    for path in ("/api/v1/reports/overdue", "/api/v1/followups"):
        response = client.get(path, headers=headers)
        texts[path] = f"[{response.status_code}]\n" + response.get_data(as_text=True)
    return texts


def inbox_texts(user_id):
    """The user's notifications and the e-mails queued for their address (needs an app context)."""
    from tracker.alerts.models import Delivery, Notification
    from tracker.auth.models import User
    from tracker.extensions import db

    texts = {}
    for n in db.session.scalars(db.select(Notification).where(Notification.user_id == user_id)):
        texts[f"notification:{n.id}"] = f"{n.kind}\n{n.title}\n{n.body or ''}"
    user = db.session.get(User, user_id)
    email = getattr(user, "email", None)
    if email:
        for d in db.session.scalars(db.select(Delivery).where(Delivery.target == email)):
            texts[f"email:{d.id}"] = f"{d.subject}\n{d.body}"
    return texts


def find(texts: dict, markers, allow=()) -> list[str]:
    """'url: marker … excerpt …' for every marker (case-insensitive) found in any text, once the
    phrases in ALLOW (words that contain a marker innocently) are taken out."""
    hits = []
    for url, text in texts.items():
        for phrase in allow:
            text = text.replace(phrase, "")
        lowered = text.lower()
        for marker in markers:
            at = lowered.find(marker.lower())
            if at >= 0:
                excerpt = json.dumps(text[max(0, at - 80) : at + len(marker) + 80], ensure_ascii=False)
                hits.append(f"{url}: {marker!r} in {excerpt}")
    return hits
