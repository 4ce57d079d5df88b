"""Schemathesis hooks for `cargo xtask test`'s API check.

The OpenAPI document states three rules that a JSON Schema cannot carry; a
schema-valid request can still break them, and the server then answers 400
as documented. For requests meant to be valid (positive cases) these hooks
make the generated request follow the rules, so that any 400 left is a real
disagreement between the document and the server:

* `x-parameter-sets`: which parameters select which of the operations that
  share a path and method. Parameters outside the chosen set are dropped,
  and a missing SID is supplied.
* A SID is a credential: a well-formed SID that the server did not issue is
  refused like a malformed one. Positive cases get a genuine SID of a fresh
  session, unless they already carry one the server issued (the stateful
  phase follows the document's links from `POST /sessions`).
* `auth_time` may not be in the future nor so old that the session would
  be born expired; positive cases get a time within the last 30 seconds.
* A login from a pre-login session (`POST /sessions` with a
  `Pre-Login-SID` header) needs the SID of a live pre-login session: a
  positive case that does not carry one the server issued as such gets a
  fresh one (the stateful phase follows the link from
  `POST /sessions/pre-login`). A pre-login session used once is gone, and
  the server answers 404 for it, which the document allows.

Negative cases are sent as generated. The server's address and API token
come from TESSERA_API_CHECK_BASE and TESSERA_API_CHECK_TOKEN.
"""

import os
import time

import requests
import schemathesis

BASE = os.environ["TESSERA_API_CHECK_BASE"]
TOKEN = os.environ["TESSERA_API_CHECK_TOKEN"]
SESSIONS = BASE + "/session-store/rest/v2/sessions"
# Every SID the server handed out during this run.
ISSUED = set()
# The pre-login SIDs among them.
PRE_LOGIN = set()


def _fresh_sid():
    response = requests.post(
        SESSIONS,
        json={"sub": "api-check-owner"},
        headers={"Authorization": "Bearer " + TOKEN},
        timeout=10,
    )
    response.raise_for_status()
    sid = response.json()["sid"]
    ISSUED.add(sid)
    return sid


def _fresh_pre_login_sid():
    response = requests.post(
        SESSIONS + "/pre-login",
        json={},
        headers={"Authorization": "Bearer " + TOKEN},
        timeout=10,
    )
    response.raise_for_status()
    sid = response.json()["sid"]
    ISSUED.add(sid)
    PRE_LOGIN.add(sid)
    return sid


def _genuine_pre_login_sid(case):
    headers = case.headers or {}
    if "Pre-Login-SID" in headers and headers["Pre-Login-SID"] not in PRE_LOGIN:
        headers["Pre-Login-SID"] = _fresh_pre_login_sid()


def _is_positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _present(case, name):
    location, _, key = name.partition(".")
    container = case.headers if location == "header" else case.query
    return container is not None and key in container


def _drop(case, name):
    location, _, key = name.partition(".")
    container = case.headers if location == "header" else case.query
    if container is not None:
        container.pop(key, None)


def _choose(case, sets):
    sid = (case.headers or {}).get("SID")
    if sid in ISSUED:
        for candidate in sets:
            if "header.SID" in candidate["required"]:
                return candidate
    for candidate in sets:
        if all(_present(case, name) for name in candidate["required"]):
            return candidate
    # No selector given: the SID is the one this hook can supply.
    return next(c for c in sets if "header.SID" in c["required"])


def _follow_parameter_sets(case):
    sets = case.operation.definition.raw.get("x-parameter-sets")
    if not sets:
        return
    chosen = _choose(case, sets)
    allowed = set(chosen["required"]) | set(chosen["optional"])
    named = {name for candidate in sets for name in candidate["required"] + candidate["optional"]}
    for name in named - allowed:
        _drop(case, name)
    if "header.SID" in chosen["required"]:
        if case.headers is None:
            case.headers = {}
        if case.headers.get("SID") not in ISSUED:
            case.headers["SID"] = _fresh_sid()


def _recent_auth_time(case):
    body = case.body
    if not isinstance(body, dict):
        return
    value = body.get("auth_time")
    # JSON Schema counts 60.0 as an integer, and so does schemathesis.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        body["auth_time"] = int(time.time()) - int(abs(value)) % 30


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _is_positive(case):
        return
    _follow_parameter_sets(case)
    _recent_auth_time(case)
    _genuine_pre_login_sid(case)


@schemathesis.hook
def after_call(context, case, response):
    if case.method.upper() != "POST" or response.status_code != 201:
        return
    pre_login = case.path.endswith("/sessions/pre-login")
    if not (pre_login or case.path.endswith("/sessions")):
        return
    try:
        sid = response.json()["sid"]
    except (ValueError, KeyError, TypeError):
        return
    ISSUED.add(sid)
    if pre_login:
        PRE_LOGIN.add(sid)
