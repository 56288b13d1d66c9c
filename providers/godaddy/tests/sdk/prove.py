"""Drive the GoDaddy Domains API v1 fake (providers/godaddy/tests/fake) with dns-lexicon's
`godaddy` provider (GoDaddy publishes no Python SDK; lexicon's provider is the GoDaddy client of
lexicon and of certbot-dns-godaddy) and fail on any difference from what it expects.

lexicon keeps the API address in the instance attribute `api_endpoint` (set in `__init__` to
https://api.godaddy.com/v1): each instance here gets the fake's address there right after
construction. It finds the domain with tldextract; the module's `tldextract` is pointed at an
extractor using the bundled public-suffix snapshot only, so the proof never fetches the list.
Nothing else of the client is changed. Run by this provider's `sdk` test through the kit's
`prove_with_sdk`; the fake's address and credentials come in the environment.

Checked: sso-key auth and the domain lookup (`domainId`), TXT values appended by lexicon's
read + PUT of the name's set (TTL raised to 600 by lexicon), read back unquoted with relative
names, no duplicate, update, delete through `PUT …/records/TXT` of the rest and, for the last
TXT record of a domain, lexicon's PUT-one-then-DELETE (GoDaddy ignores a PUT of an empty list);
every record of a domain in one list; 401, 403 ACCESS_DENIED, 404, 422 bodies; PATCH append and
its DUPLICATE_RECORD; `limit` + `marker` paging; 429 with `retryAfterSec`.
"""

import os

from proof import check, expect, expect_raises, finish

BASE = os.environ["GODADDY_BASE_URL"] + "/v1"
BLOCKED = os.environ["GODADDY_BLOCKED_URL"] + "/v1"
ZONE = os.environ["GODADDY_ZONE"]
SOLO = os.environ["GODADDY_SOLO_ZONE"]
KEY, SECRET = os.environ["GODADDY_KEY"], os.environ["GODADDY_SECRET"]
DENIED_KEY, DENIED_SECRET = os.environ["GODADDY_DENIED"].split(":")


def lexicon(domain=ZONE, key=KEY, secret=SECRET, base=BASE):
    import tldextract
    from lexicon._private.providers import godaddy
    from lexicon.config import ConfigResolver

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    godaddy.tldextract = type("Offline", (), {"extract": staticmethod(offline)})
    cfg = {"provider_name": "godaddy", "domain": domain, "ttl": 60,
           "godaddy": {"auth_key": key, "auth_secret": secret}}
    p = godaddy.Provider(ConfigResolver().with_dict(cfg))
    p.api_endpoint = base  # lexicon has no option for it: point the instance at the fake
    return p


def status(e):
    return e.response.status_code, e.response.json()


def lexicon_checks():
    import requests

    name = f"_acme-challenge.{ZONE}"

    def lookup():
        p = lexicon()
        p.authenticate()
        expect(isinstance(p.domain_id, int) and p.domain_id > 0, p.domain_id)
        e = expect_raises(requests.exceptions.HTTPError, lexicon(domain="nowhere.com").authenticate)
        expect(e.response.status_code == 404, "unknown domain")

    def txt_values():
        p = lexicon()
        p.authenticate()
        expect(p.list_records("TXT", name) == [], "no record yet")
        p.create_record("TXT", name, "lex-1")
        p.create_record("TXT", name, "lex-2")
        p.create_record("TXT", name, "lex-1")  # already there: no duplicate
        got = p.list_records("TXT", name)
        expect(sorted(r["content"] for r in got) == ["lex-1", "lex-2"], got)
        expect({r["ttl"] for r in got} == {600} and {r["name"] for r in got} == {name}, got)
        raw = p._get(f"/domains/{ZONE}/records/TXT/_acme-challenge")
        expect(sorted(r["data"] for r in raw) == ["lex-1", "lex-2"], f"stored unquoted: {raw}")
        expect({r["name"] for r in raw} == {"_acme-challenge"}, raw)
        p.update_record(None, "TXT", name, "lex-3")  # the first value replaced in the name's set
        expect(sorted(r["content"] for r in p.list_records("TXT", name)) == ["lex-2", "lex-3"], "updated")
        p.delete_record(rtype="TXT", name=name, content="lex-3")  # PUT …/records/TXT of the rest
        p.delete_record(rtype="TXT", name=name, content="lex-2")
        expect(p.list_records("TXT", name) == [], "both removed")
        seeds = [r for r in p.list_records("TXT") if r["name"].startswith("seed")]
        expect(len(seeds) == 130, f"{len(seeds)} seeded records kept, in one list")
        expect(len(p.list_records()) == 130, "every record of the domain")

    def apex_and_last_record():
        p = lexicon(domain=SOLO)
        p.authenticate()
        p.create_record("TXT", "@", "apex")  # lexicon's own apex name would be "" (no path segment)
        raw = p._get(f"/domains/{SOLO}/records/TXT/@")
        expect([(r["name"], r["data"]) for r in raw] == [("@", "apex")], raw)
        p.delete_record(rtype="TXT", name="@", content="apex")  # PUT one, then DELETE
        expect(p.list_records("TXT") == [], "the domain's last TXT record deleted")
        expect([r["type"] for r in p.list_records()] == ["A"], "its A record kept")

    def refusals():
        e = expect_raises(requests.exceptions.HTTPError, lexicon(secret="wrong").authenticate)
        expect(status(e) == (401, {"code": "UNABLE_TO_AUTHENTICATE",
                                   "message": "Unable to authenticate with the credentials provided"}), status(e))
        e = expect_raises(requests.exceptions.HTTPError, lexicon(key=DENIED_KEY, secret=DENIED_SECRET).authenticate)
        expect(status(e)[0] == 403 and status(e)[1]["code"] == "ACCESS_DENIED", status(e))
        p = lexicon()
        url = f"/domains/{ZONE}/records/TXT/t"
        e = expect_raises(requests.exceptions.HTTPError, lambda: p._put(url, [{"data": "x", "ttl": 60}]))
        code, body = status(e)
        expect(code == 422 and body["code"] == "INVALID_BODY" and body["fields"][0]["path"] == "records[0].ttl", body)
        p._put(url, [{"data": "x", "ttl": 600}])
        # An empty list (lexicon sends no body for it) is ignored: the trap of a client that
        # empties a name with PUT.
        auth = {"Authorization": f"sso-key {KEY}:{SECRET}"}
        r = requests.put(BASE + url, json=[], headers=auth, timeout=10)
        expect(r.status_code == 200, r.status_code)
        expect([r["data"] for r in p._get(url)] == ["x"], "an empty PUT changes nothing")
        p._request("PATCH", f"/domains/{ZONE}/records", [{"type": "TXT", "name": "t", "data": "y", "ttl": 600}])
        expect(sorted(r["data"] for r in p._get(url)) == ["x", "y"], "PATCH appends")
        e = expect_raises(requests.exceptions.HTTPError, lambda: p._request(
            "PATCH", f"/domains/{ZONE}/records", [{"type": "TXT", "name": "t", "data": "y"}]))
        expect(status(e)[0] == 422 and status(e)[1]["code"] == "DUPLICATE_RECORD", status(e))
        p._delete(url)
        e = expect_raises(requests.exceptions.HTTPError, lambda: p._delete(url))
        expect(e.response.status_code == 404, "nothing left to delete")

    def paging_and_throttling():
        p = lexicon()
        first = p._get("/domains", query_params={"limit": 2})
        expect([d["domain"] for d in first] == ["a00.com", "a01.com"], first)
        nxt = p._get("/domains", query_params={"limit": 2, "marker": first[-1]["domain"]})
        expect([d["domain"] for d in nxt] == ["a02.com", "a03.com"], nxt)
        rows = p._get(f"/domains/{ZONE}/records/TXT", query_params={"offset": 10, "limit": 5})
        expect(len(rows) == 5, rows)
        e = expect_raises(requests.exceptions.HTTPError, lexicon(base=BLOCKED).authenticate)
        code, body = status(e)
        expect(code == 429 and body["code"] == "TOO_MANY_REQUESTS" and body["retryAfterSec"] >= 1, body)
        expect(int(e.response.headers["Retry-After"]) >= 1, e.response.headers)

    for n, f in [
        ("lexicon authenticate: domain lookup, 404", lookup),
        ("lexicon TXT create / list / update / delete, unquoted, relative names", txt_values),
        ("lexicon apex and a domain's last TXT record (PUT one, DELETE)", apex_and_last_record),
        ("401, 403 ACCESS_DENIED, 422 TTL, empty PUT ignored, PATCH, DUPLICATE_RECORD, 404", refusals),
        ("limit + marker paging, offset, 429 retryAfterSec", paging_and_throttling),
    ]:
        check(n, f)


if __name__ == "__main__":
    lexicon_checks()
    finish()
