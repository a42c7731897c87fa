"""Load test journeys (issue 12, item 6): run by tests/bench/bench_load.py, or by hand:

    .venv-load/bin/locust -f tests/bench/locustfile.py --headless -u 50 -r 10 -t 120s \
        --host http://127.0.0.1:8099 --csv /tmp/load

Locust lives in its own venv (.venv-load, requirements-load.txt) and speaks HTTP only: nothing of the
app is imported here. Three kinds of users, each logging in through the real /login form (CSRF token
from the page) with the credentials of the environment:

  * InspectorUser (LOAD_INSPECTOR_USER / LOAD_INSPECTOR_PASSWORD): the intake list; registers a
    record (/intake/new), hands it to the ledger (转入台账, POST /intake/<id>/handle action=rectify)
    and assigns the new problem (交办, POST /ledger/<number>/assign); assigns problems that wait in
    the ledger (?status=new); opens records and problems.
  * UnitUser (LOAD_UNIT_USER / LOAD_UNIT_PASSWORD): its own ledger list and counts; accepts (签收)
    an assigned problem; posts progress (整改进展) on a problem in progress and now and then uploads
    evidence and submits it for sign-off (申请销号) with its report and milestone answers.
  * LeaderUser (LOAD_LEADER_USER / LOAD_LEADER_PASSWORD): the home page, the dashboard (驾驶舱),
    the overdue ledger and report (逾期清单), the ranking (排名通报), an overdue problem, now and
    then an instruction (批示).

LOAD_UNIT_ID (optional) is the id of the unit user's unit: a problem to assign whose unit has nobody
to own it is given to that unit instead, as the inspector would pick another unit on the form.
LOAD_WAIT_MIN / LOAD_WAIT_MAX: think time between tasks in seconds (default 1..3). LOAD_SAMPLES: a
CSV file to write every request to (start time, method, name, ms, failed) when locust quits.

Requests are named by route ("GET /ledger/<number>", "POST /ledger/<number>/act (submit)") so that
the statistics group them. No redirect is followed: a POST must answer 302 and the next page is
fetched under its own name; a page that answers a redirect (a lost session) is a failure. The only
answers other than the expected one counted as successes are the app's normal answers to a
legitimate race between users working on the same problems: 409 with its conflict message (someone
else changed or moved the problem), and 422 to progress or evidence on a problem whose re-rendered
page shows it is no longer in progress (someone submitted it meanwhile). They are counted under the
request's name with " [race 409]" / " [race 422]" added, so that the table shows how many there were.
"""

import csv
import html
import os
import random
import re
import time
from datetime import datetime, timedelta
from html.parser import HTMLParser

from locust import HttpUser, between, events, task

PROBLEM_LINK = re.compile(r'<a href="/ledger/(ZG-\d{4}-\d+)">')
RECORD_LINK = re.compile(r'<a href="/intake/(\d+)">')
RECORD_PROBLEM = re.compile(r'<dd class="font-monospace">(ZG-\d{4}-\d+)')
COUNTS_URL = re.compile(r'id="ledger-counts"[^>]*hx-get="([^"]+)"')
CONFLICT_MARK = "alert alert-warning"  # the flash the app shows with its 409 conflict page
PROGRESS_FORM = 'name="kind" value="progress"'
# A one-page PDF the evidence upload accepts (sniffed by content, not by name).
EVIDENCE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
WAIT = between(float(os.environ.get("LOAD_WAIT_MIN", 1)), float(os.environ.get("LOAD_WAIT_MAX", 3)))


# ---- every request's time, for bench_load's exact percentiles (LOAD_SAMPLES: a CSV file to write) ----

_samples = []


@events.request.add_listener
def _sample(request_type, name, response_time, exception=None, **_kwargs):
    if os.environ.get("LOAD_SAMPLES"):
        _samples.append((round(time.time() - response_time / 1000, 3), request_type, name, round(response_time, 1),
                         int(exception is not None)))  # fmt: skip


@events.quitting.add_listener
def _write_samples(**_kwargs):
    if os.environ.get("LOAD_SAMPLES"):
        with open(os.environ["LOAD_SAMPLES"], "w", newline="") as fh:
            csv.writer(fh).writerows(_samples)


# ---- HTML forms ----------------------------------------------------------------------------------


class _Forms(HTMLParser):
    """Every <form> of a page with its fields, as a browser would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._form, self._select, self._textarea = [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"attrs": a, "fields": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            self._form["fields"].append({"tag": "input", **a})
        elif tag == "select":
            self._select = {"tag": "select", "name": a.get("name", ""), "options": []}
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append({"value": a.get("value"), "selected": "selected" in a, "text": ""})
        elif tag == "textarea":
            self._textarea = {"tag": "textarea", "name": a.get("name", ""), "value": ""}
            self._form["fields"].append(self._textarea)
        elif tag == "button":
            self._form["fields"].append({"tag": "button", **a})

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data
        elif self._select is not None and self._select["options"]:
            self._select["options"][-1]["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms(page: str) -> list[dict]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def form_values(form: dict) -> dict:
    """What submitting FORM unchanged sends (buttons excepted): hidden and text inputs, checked
    boxes and radios, each select's selected (or first) option, textareas."""
    values = {}
    for f in form["fields"]:
        name = f.get("name")
        if not name:
            continue
        if f["tag"] == "input":
            kind = f.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in f:
                    values[name] = f.get("value", "on")
            elif kind not in ("file", "submit", "button", "reset", "image"):
                values[name] = f.get("value", "")
        elif f["tag"] == "select":
            options = f["options"]
            chosen = next((o for o in options if o["selected"]), options[0] if options else None)
            if chosen is not None:
                values[name] = chosen["value"] if chosen["value"] is not None else chosen["text"].strip()
        elif f["tag"] == "textarea":
            values[name] = f["value"].lstrip("\n")
    return values


def find_form(page: str, action_suffix: str = "", **hidden) -> dict | None:
    """The first POST form whose action ends with ACTION_SUFFIX ('' = a form posting to the page
    itself, without an action) and whose fields have the values HIDDEN."""
    for form in forms(page):
        action = form["attrs"].get("action", "")
        if form["attrs"].get("method", "get").lower() != "post":
            continue
        if (not action.endswith(action_suffix)) if action_suffix else action:
            continue
        values = form_values(form)
        if all(values.get(k) == v for k, v in hidden.items()):
            return form
    return None


def select_options(form: dict, name: str) -> list[str]:
    for f in form["fields"]:
        if f["tag"] == "select" and f["name"] == name:
            return [o["value"] for o in f["options"] if o["value"]]
    return []


def csrf_token(page: str) -> str | None:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    return match.group(1) if match else None


# ---- the users -----------------------------------------------------------------------------------


class TrackerUser(HttpUser):
    abstract = True
    wait_time = WAIT
    role = ""

    def on_start(self):
        prefix = f"LOAD_{self.role.upper()}_"
        username, password = os.environ.get(prefix + "USER"), os.environ.get(prefix + "PASSWORD")
        if not username or not password:
            raise RuntimeError(f"set {prefix}USER and {prefix}PASSWORD")
        page = self.page("/login", "GET /login")
        token = csrf_token(page or "")
        with self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token or "", "next": ""},
            name="POST /login",
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 302:
                answer.failure(f"login as {username}: {answer.status_code}")
            else:
                answer.success()

    # -- requests --

    def page(self, path: str, name: str) -> str | None:
        """GET PATH, expecting 200; the body, or None on failure."""
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as answer:
            if answer.status_code != 200:
                where = answer.headers.get("Location", "")
                answer.failure(f"{answer.status_code} {where}".strip())
                return None
            answer.success()
            return answer.text

    def post(self, path: str, name: str, data: dict, files=None, race=None) -> str | None:
        """POST, expecting a 302 to the next page: its Location, or '' when the answer was a
        legitimate race (RACE(answer) -> True, or a 409 conflict page); None on failure."""
        with self.client.post(
            path, data=data, files=files, name=name, allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code == 302:
                answer.success()
                return answer.headers.get("Location", "")
            if (answer.status_code == 409 and CONFLICT_MARK in answer.text) or (race is not None and race(answer)):
                # someone else changed or moved the problem since the page was read: counted apart
                answer.request_meta["name"] = f"{name} [race {answer.status_code}]"
                answer.success()
                return ""
            flash = re.search(r'<span class="flash-text">([^<]*)</span>', answer.text)
            answer.failure(f"{answer.status_code}: {html.unescape(flash.group(1)) if flash else answer.text[:200]}")
            return None

    def ledger(self, query: str, name: str) -> str | None:
        """The ledger list and its counts bar (loaded by htmx as the page loads)."""
        page = self.page("/ledger/" + (f"?{query}" if query else ""), name)
        if page:
            counts = COUNTS_URL.search(page)
            if counts:
                self.page(html.unescape(counts.group(1)), "GET /ledger/counts")
        return page

    def problem(self, number: str) -> str | None:
        return self.page(f"/ledger/{number}", "GET /ledger/<number>")

    @staticmethod
    def pick(page: str | None, pattern=PROBLEM_LINK) -> str | None:
        found = list(dict.fromkeys(pattern.findall(page or "")))
        return random.choice(found) if found else None


class InspectorUser(TrackerUser):
    """纪检监察员: triage and assignment."""

    weight = 2
    role = "inspector"

    @task(3)
    def register_rectify_assign(self):
        """A complaint received by phone: registered, handed to the ledger, assigned."""
        if self.page("/intake/", "GET /intake/ (list)") is None:
            return
        page = self.page("/intake/new", "GET /intake/new")
        form = find_form(page or "")
        if form is None:
            return
        data = form_values(form)
        units = select_options(form, "unit_code")
        unit_code = os.environ.get("LOAD_UNIT_CODE") or (random.choice(units) if units else "")
        serial = random.randrange(10**9)
        data.update(
            {
                "kind": "投诉",
                "received_at": (datetime.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
                "title": f"压力测试：小区路灯损坏 {serial}",
                "body": "小区东门至菜市场一段路灯损坏多日，夜间出行不便，请尽快修复。",
                "unit_code": unit_code,
                "category": "市政设施",
                "anonymous": "y",
            }
        )
        data.pop("external_id", None)  # generated by the app
        where = self.post("/intake/new", "POST /intake/new", data)
        match = re.search(r"/intake/(\d+)$", where or "")
        if not match:
            return
        record_id = match.group(1)
        page = self.page(f"/intake/{record_id}", "GET /intake/<id>")
        form = find_form(page or "", f"/intake/{record_id}/handle", action="rectify")
        if form is None:
            return
        where = self.post(f"/intake/{record_id}/handle", "POST /intake/<id>/handle (rectify)", form_values(form))
        if not where:
            return
        page = self.page(f"/intake/{record_id}", "GET /intake/<id>")
        number = RECORD_PROBLEM.search(page or "")
        if number:
            self.assign(number.group(1))

    @task(3)
    def assign_waiting(self):
        """A problem waiting in the ledger (待交办) is assigned."""
        number = self.pick(self.ledger("status=new", "GET /ledger/?status=new"))
        if number:
            self.assign(number)

    @task(2)
    def browse_intake(self):
        page = self.page("/intake/?handling=all", "GET /intake/?handling=all")
        record_id = self.pick(page, RECORD_LINK)
        if record_id:
            self.page(f"/intake/{record_id}", "GET /intake/<id>")

    @task(2)
    def browse_ledger(self):
        number = self.pick(self.ledger("status=open", "GET /ledger/?status=open"))
        if number:
            self.problem(number)

    def assign(self, number: str):
        if self.problem(number) is None:
            return
        page = self.page(f"/ledger/{number}/assign", "GET /ledger/<number>/assign")
        form = find_form(page or "")
        if form is None:
            return
        data = form_values(form)
        owners = select_options(form, "owner_id")
        unit_id = os.environ.get("LOAD_UNIT_ID")
        if not owners and unit_id:
            # nobody to own it in that unit: the inspector picks another unit (the form reloads its people)
            people = self.page(f"/ledger/people?unit_id={unit_id}", "GET /ledger/people")
            owners = [v for v in re.findall(r'<option[^>]*value="([^"]*)"', people or "") if v]
            data["unit_id"] = unit_id
        if not owners:
            return
        data["owner_id"] = random.choice(owners)
        data["measures"] = "一、现场核实情况；二、制定整改方案并明确责任人；三、按期整改到位并反馈。"
        where = self.post(f"/ledger/{number}/assign", "POST /ledger/<number>/assign", data)
        if where:
            self.problem(number)


class UnitUser(TrackerUser):
    """责任单位: its own ledger, accepting, progress, submitting for sign-off."""

    weight = 5
    role = "unit"

    @task(3)
    def own_ledger(self):
        number = self.pick(self.ledger("", "GET /ledger/ (list)"))
        if number:
            self.problem(number)

    @task(2)
    def accept(self):
        number = self.pick(self.ledger("status=assigned", "GET /ledger/?status=assigned"))
        page = self.problem(number) if number else None
        form = find_form(page or "", f"/ledger/{number}/act", action="accept")
        if form is None:
            return
        where = self.post(
            f"/ledger/{number}/act", "POST /ledger/<number>/act (accept)", {**form_values(form), "go": "accept"}
        )
        if where:
            self.problem(number)

    @task(4)
    def progress_and_submit(self):
        number = self.pick(self.ledger("status=in_progress", "GET /ledger/?status=in_progress"))
        page = self.problem(number) if number else None
        form = find_form(page or "", f"/ledger/{number}/notes", kind="progress")
        if form is None:
            return
        data = {**form_values(form), "body": "已召开专题会议部署整改，现场问题已处理约七成，剩余部分本周内完成。"}
        where = self.post(f"/ledger/{number}/notes", "POST /ledger/<number>/notes (progress)", data, race=self.moved_on)
        if not where:
            return
        page = self.problem(number)
        if page is None or random.random() >= 0.4:
            return
        if 'href="/ledger/evidence/' not in page:
            form = find_form(page, f"/ledger/{number}/evidence")
            if form is None:
                return
            where = self.post(
                f"/ledger/{number}/evidence",
                "POST /ledger/<number>/evidence",
                form_values(form),
                files={"file": ("整改照片说明.pdf", EVIDENCE_PDF, "application/pdf")},
                race=self.moved_on,
            )
            if not where:
                return
            page = self.problem(number)
        form = find_form(page or "", f"/ledger/{number}/act", action="submit")
        if form is None:
            return
        data = form_values(form)
        for f in form["fields"]:  # every open milestone ticked done
            if f.get("name", "").startswith("milestone_done_"):
                data[f["name"]] = "1"
        data.update({"report": "<p>已完成整改：问题已全部处理，群众反映的情况不再出现。</p>", "go": "submit"})
        where = self.post(f"/ledger/{number}/act", "POST /ledger/<number>/act (submit)", data)
        if where:
            self.problem(number)

    @task(1)
    def home(self):
        self.page("/", "GET / (home)")

    @staticmethod
    def moved_on(answer) -> bool:
        """The 422 of progress or evidence on a problem someone else has just submitted: the page
        the app renders again no longer offers the progress form."""
        return answer.status_code == 422 and PROGRESS_FORM not in answer.text and "<h1" in answer.text


class LeaderUser(TrackerUser):
    """领导: the figures, the overdue problems, the ranking."""

    weight = 3
    role = "leader"

    @task(2)
    def home(self):
        self.page("/", "GET / (home)")

    @task(3)
    def dashboard(self):
        self.page("/reports/dashboard", "GET /reports/dashboard")

    @task(3)
    def overdue(self):
        page = self.ledger("due=overdue", "GET /ledger/?due=overdue")
        number = self.pick(page)
        if number and random.random() < 0.5:
            page = self.problem(number)
            form = find_form(page or "", f"/ledger/{number}/notes", kind="instruction")
            if form is not None and random.random() < 0.3:
                data = {**form_values(form), "body": "请抓紧整改，按期办结，及时报送整改情况。"}
                if self.post(f"/ledger/{number}/notes", "POST /ledger/<number>/notes (instruction)", data):
                    self.problem(number)

    @task(2)
    def overdue_report(self):
        page = self.page("/reports/overdue", "GET /reports/overdue")
        number = self.pick(page)
        if number:
            self.problem(number)

    @task(2)
    def ranking(self):
        self.page("/reports/ranking", "GET /reports/ranking")
