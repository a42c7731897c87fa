"""The OpenAPI description: every path template's parameters are declared, and every path exists."""

import re

METHODS = {"get", "post", "put", "patch", "delete"}


def _spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_every_path_parameter_is_declared_for_every_operation(client):
    spec = _spec(client)
    missing = []
    for path, item in spec["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            if method not in METHODS:
                continue
            declared = {
                p["name"]
                for p in item.get("parameters", []) + operation.get("parameters", [])
                if p["in"] == "path" and p.get("required") is True
            }
            missing += [f"{method.upper()} {path}: {{{name}}}" for name in sorted(names - declared)]
            extra = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"} - names
            missing += [f"{method.upper()} {path}: declares {name} not in the path" for name in sorted(extra)]
    assert missing == []


def test_the_problem_paths_take_the_problem_number(client):
    spec = _spec(client)
    for path in ("/problems/{number}", "/problems/{number}/transitions", "/problems/{number}/evidence"):
        parameters = spec["paths"][path]["parameters"]
        assert [(p["name"], p["in"], p["schema"]["type"]) for p in parameters] == [("number", "path", "string")]


def test_every_described_path_is_a_real_route(app, client):
    spec = _spec(client)
    routes = {re.sub(r"<[^>]+>", "{}", rule.rule) for rule in app.url_map.iter_rules()}
    base = spec["servers"][0]["url"]
    for path in spec["paths"]:
        assert base + re.sub(r"{[^}]+}", "{}", path) in routes, path
