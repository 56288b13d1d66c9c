"""Drive the deSEC API fake (providers/desec/tests/fake) with dns-lexicon's `desec` provider
(deSEC publishes no SDK; lexicon is the most used independent client, and certbot-dns-desec
speaks the same calls) and fail on any difference from what that client expects: the domain
check, RRsets listed with filters, created (POST), extended and reduced (PATCH of one RRset),
deleted (DELETE), 401, a token whose policy may not write, a missing domain, and a 429 waited
out by the client's own Retry-After handling. The cursor pages above 500 RRsets, which lexicon
does not follow, are walked with `requests` (lexicon's HTTP library) through the Link header.

lexicon hard-codes `https://desec.io/api/v1` as the instance attribute `api_endpoint` (set in
`Provider.__init__`); `provider()` below builds the provider as lexicon does and then points
that attribute at the fake. lexicon mounts its Retry-After-honouring adapter for `https://`
only; it is mounted for the fake's `http://` too, so the client behaves as against deSEC.
Run by this provider's `sdk` test through the kit's `prove_with_sdk`.
"""

import os

import requests
from proof import check, expect, expect_raises, finish

BASE = os.environ["DS_BASE_URL"]
TOKEN = os.environ["DS_TOKEN"]


def provider(domain, token=TOKEN):
    from lexicon._private.providers.desec import Provider
    from lexicon.config import ConfigResolver

    config = ConfigResolver().with_dict(
        {"provider_name": "desec", "domain": domain, "desec": {"auth_token": token}}
    )
    p = Provider(config)
    p.api_endpoint = BASE
    p._session.mount("http://", p._session.get_adapter("https://desec.io"))
    return p


def lexicon_checks():
    from lexicon.exceptions import AuthenticationError
    from requests.exceptions import HTTPError

    name = "_acme-challenge.example.test"

    def domain_check():
        p = provider("example.test")
        p.authenticate()
        expect(p.domain_id == "example.test", p.domain_id)
        e = expect_raises(AuthenticationError, provider("nowhere.test").authenticate)
        expect("(404)" in str(e), str(e))

    def create_extend_reduce_delete():
        p = provider("example.test")
        p.authenticate()
        expect(p.create_record("TXT", name, "lexicon-1"), "create")
        got = p.list_records("TXT", name)
        expect([r["content"] for r in got] == ["lexicon-1"] and got[0]["ttl"] == 3600, got)
        expect(got[0]["name"] == name, got[0]["name"])
        expect(p.create_record("TXT", name, "lexicon-2"), "extend")
        expect(p.create_record("TXT", name, "lexicon-2"), "again: nothing to do")
        got = sorted(r["content"] for r in p.list_records("TXT", name))
        expect(got == ["lexicon-1", "lexicon-2"], got)
        expect(p.delete_record(None, "TXT", name, "lexicon-1"), "reduce")
        got = [r["content"] for r in p.list_records("TXT", name)]
        expect(got == ["lexicon-2"], f"the other value kept: {got}")
        expect(p.delete_record(None, "TXT", name, "lexicon-2"), "last value")
        expect(p.list_records("TXT", name) == [], "an emptied RRset is gone")
        p.create_record("TXT", "_acme-challenge.www.example.test", "w")
        expect(p.delete_record(None, "TXT", "_acme-challenge.www.example.test"), "DELETE")
        expect(p.list_records("TXT", "_acme-challenge.www.example.test") == [], "deleted")
        expect(p.delete_record(None, "TXT", name, "gone"), "deleting what is gone")

    def refusals():
        e = expect_raises(AuthenticationError, provider("example.test", "x" * 28).authenticate)
        expect("(401)" in str(e), str(e))
        ro = provider("example.test", os.environ["DS_TOKEN_READ_ONLY"])
        ro.authenticate()
        expect(ro.list_records("TXT") == [], "a token without write permission reads")
        e = expect_raises(HTTPError, lambda: ro.create_record("TXT", name, "x"))
        expect(e.response.status_code == 403, e.response.status_code)
        expect(e.response.json() == {"detail": "Insufficient token permissions."}, e.response.text)

    def pages():
        p = provider("big.test")
        p.authenticate()
        e = expect_raises(HTTPError, lambda: p.list_records("TXT"))
        r = e.response
        expect(r.status_code == 400 and "Pagination required" in r.json()["detail"], r.text)
        url, seen, pages = r.links["first"]["url"], [], 0
        headers = {"Authorization": f"Token {TOKEN}"}
        while url and pages < 5:
            r = requests.get(url, headers=headers, timeout=10)
            r.raise_for_status()
            seen += [s["subname"] for s in r.json()]
            url, pages = r.links.get("next", {}).get("url"), pages + 1
        expect(pages == 2 and len(seen) == 510 and len(set(seen)) == 510, f"{pages} pages, {len(seen)}")
        one = p.list_records("TXT", "seed7.big.test")
        expect([x["content"] for x in one] == ["s7"], one)

    for n, f in [
        ("lexicon domain check, missing domain", domain_check),
        ("lexicon create, extend, reduce, delete (429s waited out)", create_extend_reduce_delete),
        ("lexicon 401, a token without write permission", refusals),
        ("400 without cursor above 500 RRsets, Link pages", pages),
    ]:
        check(n, f)


if __name__ == "__main__":
    lexicon_checks()
    finish()
