"""Guessing is limited per address (Flask-Limiter, PUBLIC_LOOKUP_LIMIT): the page and the API share
one limit; past it the answer is 429 with a Chinese message; GET of the form is never limited."""

import re

from tests.conftest import csrf_from
from tests.public.conftest import marked_problem

API = "/api/v1/public/track"
MESSAGE = re.compile(r"查询过于频繁，请 (\d+) 分钟后再试。")


def _api(client, address, body):
    return client.post(API, json=body, environ_base={"REMOTE_ADDR": address})


def test_a_thousand_lookups_a_minute_from_one_address_get_ten_answers(app, client, world):
    case = marked_problem(app, world)
    answers = [_api(client, "10.0.0.1", {"code": case.code, "pin": f"{i:06d}"}).status_code for i in range(1000)]
    assert all(status in (200, 404) for status in answers[:10])
    assert answers[10:] == [429] * 990
    refused = _api(client, "10.0.0.1", {"code": case.code, "pin": case.pin})  # even the right PIN
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "too_many_requests" and set(error) == {"code", "message", "fields"}
    minutes = MESSAGE.fullmatch(error["message"])
    assert minutes and 1 <= int(minutes.group(1)) <= 60
    # Another address is still answered.
    assert _api(client, "10.0.0.2", {"code": case.code, "pin": case.pin}).status_code == 200


def test_page_and_api_share_one_limit_and_the_page_says_so_in_chinese(app, client, world):
    case = marked_problem(app, world)
    address = {"REMOTE_ADDR": "10.0.0.3"}
    token = csrf_from(client, "/track")
    for _ in range(5):
        assert _api(client, "10.0.0.3", {"code": case.code, "pin": case.pin}).status_code == 200
    for _ in range(5):
        page = client.post(
            "/track", data={"code": case.code, "pin": case.pin, "csrf_token": token}, environ_base=address
        )
        assert page.status_code == 200
    page = client.post("/track", data={"code": case.code, "pin": case.pin, "csrf_token": token}, environ_base=address)
    text = page.get_data(as_text=True)
    assert page.status_code == 429 and MESSAGE.search(text)
    assert "Too Many Requests" not in text and 'name="code"' in text  # the form, not a bare error page
    assert _api(client, "10.0.0.3", {"code": case.code, "pin": case.pin}).status_code == 429
    # GET of the form is not limited.
    assert client.get("/track", environ_base=address).status_code == 200


def test_bad_input_counts_against_the_limit_too(client, world):
    statuses = [_api(client, "10.0.0.4", {"code": "x", "pin": "1"}).status_code for _ in range(11)]
    assert statuses == [422] * 10 + [429]


def test_counters_start_afresh_with_each_test_first(client, world):
    # The previous tests used up other addresses; the default address has its whole allowance.
    assert all(_api(client, "10.0.0.1", {"code": "x", "pin": "1"}).status_code == 422 for _ in range(10))


def test_counters_start_afresh_with_each_test_second(client, world):
    assert all(_api(client, "10.0.0.1", {"code": "x", "pin": "1"}).status_code == 422 for _ in range(10))
