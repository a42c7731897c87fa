"""The page shell: language switch, error pages, security headers, locally served assets."""

from tests.conftest import login


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    assert "登录" in client.get("/login").get_data(as_text=True)
    client.get("/lang/en")
    html = client.get("/login").get_data(as_text=True)
    assert "Sign in" in html and 'lang="en"' in html


def test_404_page_is_styled_and_in_chinese(client, make):
    make.org()
    login(client, "admin")
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_pages_carry_security_headers_and_no_external_assets(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    html = response.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html


def test_health_check_is_public(client):
    assert client.get("/healthz").get_json()["database"] == "ok"


def test_language_switch_only_redirects_locally(client):
    assert client.get("/lang/en?next=https://evil.example/").headers["Location"] == "/"
