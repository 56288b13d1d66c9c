"""Drive the Infomaniak API v1 fake (providers/infomaniak/tests/fake) with dns-lexicon's
`infomaniak` provider (Infomaniak publishes no Python SDK; lexicon's provider is the client of
certbot-dns-infomaniak) and fail on any difference from what it expects.

lexicon keeps the API address in the instance attribute `endpoint_api` (set in `__init__` to
https://api.infomaniak.com): each instance here gets the fake's address there right after
construction; nothing else of the client is changed. Run by this provider's `sdk` test through
the kit's `prove_with_sdk`; the fake's address and tokens come in the environment.

Checked: the domain lookup (`/1/product`, `customer_name`, numeric id), TXT records created
(relative `source`, `ttl`), listed with full names (`source_idn`, `target_idn`), no duplicate,
updated, deleted by id; the apex; the answer envelope (`result`, `data`); 401, 403 (no domain
scope), 404 `object_not_found`, 422 `validation_failed`, 429 with `Retry-After`.
"""

import os

from proof import check, expect, expect_raises, finish

BASE = os.environ["INFOMANIAK_BASE_URL"]
BLOCKED = os.environ["INFOMANIAK_BLOCKED_URL"]
ZONE = os.environ["INFOMANIAK_ZONE"]
TOKEN = os.environ["INFOMANIAK_TOKEN"]
NO_SCOPE = os.environ["INFOMANIAK_NO_SCOPE"]


def lexicon(domain=ZONE, token=TOKEN, base=BASE):
    from lexicon._private.providers.infomaniak import Provider
    from lexicon.config import ConfigResolver

    cfg = {"provider_name": "infomaniak", "domain": domain, "ttl": 300, "infomaniak": {"auth_token": token}}
    p = Provider(ConfigResolver().with_dict(cfg))
    p.endpoint_api = base  # lexicon has no option for it: point the instance at the fake
    return p


def checks():
    import requests
    from lexicon.exceptions import AuthenticationError

    name = f"_acme-challenge.{ZONE}"

    def lookup():
        p = lexicon()
        p.authenticate()
        expect(isinstance(p.domain_id, int), p.domain_id)
        expect_raises(AuthenticationError, lexicon(domain="nowhere.test").authenticate, contains="not found")

    def records():
        p = lexicon()
        p.authenticate()
        expect(p.list_records("TXT", name) == [], "none yet")
        p.create_record("TXT", name, "lex-1")
        p.create_record("TXT", name, "lex-2")
        p.create_record("TXT", name, "lex-1")  # listed first: no duplicate
        got = p.list_records("TXT", name)
        expect(sorted(r["content"] for r in got) == ["lex-1", "lex-2"], got)
        expect({r["ttl"] for r in got} == {300} and {r["name"] for r in got} == {name}, got)
        one = [r for r in got if r["content"] == "lex-1"][0]
        p.update_record(one["id"], "TXT", name, "lex-3")
        got = sorted(r["content"] for r in p.list_records("TXT", name))
        expect(got == ["lex-2", "lex-3"], got)
        p.delete_record(rtype="TXT", name=name, content="lex-3")
        p.delete_record(rtype="TXT", name=name)
        expect(p.list_records("TXT", name) == [], "deleted by id")
        expect(len(p.list_records("TXT")) == 30, "the seeded records kept")
        p.create_record("TXT", ZONE, "apex")
        expect([r["content"] for r in p.list_records("TXT", ZONE)] == ["apex"], "apex")
        p.delete_record(rtype="TXT", name=ZONE, content="apex")

    def refusals():
        def status(fn):
            e = expect_raises(requests.exceptions.HTTPError, fn)
            return e.response.status_code, e.response.json()

        code, body = status(lexicon(token="unknown").authenticate)
        expect(code == 401 and body["result"] == "error" and body["error"]["code"] == "not_authorized", body)
        code, body = status(lexicon(token=NO_SCOPE).authenticate)
        expect(code == 403, body)
        p = lexicon()
        p.authenticate()
        code, body = status(lambda: p._get(f"/1/domain/{p.domain_id}/dns/record/1"))
        expect(code == 404 and body["error"]["code"] == "object_not_found", body)
        code, body = status(lambda: p._post(f"/1/domain/{p.domain_id}/dns/record", {"type": "TXT", "source": "x"}))
        expect(code == 422 and body["error"]["code"] == "validation_failed", body)
        e = expect_raises(requests.exceptions.HTTPError, lexicon(base=BLOCKED).authenticate)
        expect(e.response.status_code == 429 and int(e.response.headers["Retry-After"]) >= 1, e.response.headers)

    for n, f in [
        ("lexicon authenticate: domain by customer_name", lookup),
        ("lexicon TXT create / list / update / delete, apex", records),
        ("401, 403 without the domain scope, 404, 422, 429", refusals),
    ]:
        check(n, f)


if __name__ == "__main__":
    checks()
    finish()
