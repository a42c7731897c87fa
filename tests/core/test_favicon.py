"""The site icon: /favicon.ico answers without a login, and every page links an icon."""

from tests.conftest import login


def test_favicon_ico_is_served_without_login(client):
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/vnd.microsoft.icon"
        assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file header
        assert response.cache_control.max_age == 86400


def test_pages_link_the_icon(client, make):
    make.org()
    login_page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon"' in login_page and "favicon.svg" in login_page
    login(client, "inspector")
    assert 'rel="icon"' in client.get("/").get_data(as_text=True)
    with client.get("/static/img/favicon.svg") as svg:
        assert svg.status_code == 200 and b"<svg" in svg.data
