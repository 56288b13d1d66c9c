"""Drive the Gandi LiveDNS v5 fake (providers/gandiv5/tests/fake) with the clients Gandi users
run (Gandi publishes no official Python SDK) and fail on any difference from what they expect:

- dns-lexicon's `gandi` provider with `api_protocol=rest` (the LiveDNS client of lexicon and of
  certbot's lexicon-based plugins): domain lookup, TXT RRsets created (POST), extended and
  reduced (PUT of the whole RRset), deleted (DELETE), read back quoted; Bearer for a personal
  access token, Apikey for a key of up to 24 characters; 401, 403 (retired key, token without
  record permission), 409, 400.
- octodns-gandi's `GandiClient`: the domain list and a zone's records paged with `page`,
  `per_page` and the `Total-Count` header, and its 401 / 403 / 404 exceptions.

Neither client has a setting for the API address: lexicon's provider keeps it in the instance
attribute `api_endpoint` (set in `__init__` to https://api.gandi.net/v5/livedns), octodns-gandi
in `GandiClient.endpoint` (https://api.gandi.net/v5); both are set here to the fake's address
after construction. Run by this provider's `sdk` test through the kit's `prove_with_sdk`; the
fake's address and credentials come in the environment.
"""

import os

from proof import check, expect, expect_raises, finish

BASE = os.environ["GANDI_BASE_URL"]  # http://127.0.0.1:PORT/v5/livedns
ZONE = os.environ["GANDI_ZONE"]
TOKEN = os.environ["GANDI_TOKEN"]
READ_ONLY = os.environ["GANDI_TOKEN_READ_ONLY"]
API_KEY = os.environ["GANDI_API_KEY"]


def lexicon(auth_token, ttl=None):
    from lexicon._private.providers.gandi import Provider
    from lexicon.config import ConfigResolver

    cfg = {"provider_name": "gandi", "domain": ZONE, "gandi": {"auth_token": auth_token, "api_protocol": "rest"}}
    if ttl is not None:
        cfg["ttl"] = ttl
    p = Provider(ConfigResolver().with_dict(cfg))
    p.api_endpoint = BASE  # lexicon has no option for it: point the instance at the fake
    return p


def octodns(token, per_page=50):
    from octodns_gandi import GandiClient

    c = GandiClient(token, per_page=per_page)
    c.endpoint = BASE[: -len("/livedns")]  # its paths start with /livedns
    return c


def lexicon_checks():
    import requests

    name = f"_acme-challenge.{ZONE}"

    def rrsets():
        p = lexicon(TOKEN, ttl=60)
        p.authenticate()
        expect(p.domain_id == ZONE, p.domain_id)
        expect(p.list_records("TXT", name) == [], "no RRset yet (404 read as empty)")
        p.create_record("TXT", name, "lex-1")  # POST, TTL raised to 300 by lexicon
        p.create_record("TXT", name, "lex-2")  # PUT of both values
        got = p.list_records("TXT", name)
        expect(sorted(r["content"] for r in got) == ["lex-1", "lex-2"], got)
        expect({r["ttl"] for r in got} == {300}, got)
        raw = p._get(f"/domains/{ZONE}/records/_acme-challenge/TXT")
        expect(sorted(raw["rrset_values"]) == ['"lex-1"', '"lex-2"'], f"stored quoted: {raw}")
        expect(raw["rrset_name"] == "_acme-challenge" and raw["rrset_type"] == "TXT", raw)
        p.delete_record(rtype="TXT", name=name, content="lex-1")  # PUT of the rest
        expect([r["content"] for r in p.list_records("TXT", name)] == ["lex-2"], "one value removed")
        p.delete_record(rtype="TXT", name=name, content="lex-2")  # DELETE
        expect(p.list_records("TXT", name) == [], "RRset deleted")

    def apex():
        p = lexicon(TOKEN)
        p.authenticate()
        p.create_record("TXT", "@", "apex-1")
        p.create_record("TXT", "@", "apex-2")
        got = sorted(r["content"] for r in p.list_records("TXT", "@"))
        expect(got == ["apex-1", "apex-2"], got)
        p.delete_record(rtype="TXT", name="@", content="apex-1")
        p.delete_record(rtype="TXT", name="@", content="apex-2")
        expect(p.list_records("TXT", "@") == [], "apex RRset gone")

    def api_key():
        p = lexicon(API_KEY)
        p.authenticate()
        p.create_record("TXT", "by-key", "k")
        expect([r["content"] for r in p.list_records("TXT", "by-key")] == ["k"], "a valid key works")
        p.delete_record(rtype="TXT", name="by-key", content="k")
        retired = lexicon("RetiredKey00000000000001")
        e = expect_raises(requests.exceptions.HTTPError, retired.authenticate)
        expect(e.request.headers["Authorization"].startswith("Apikey "), "sent as Apikey")
        body = e.response.json()
        expect(e.response.status_code == 403 and body["code"] == 403 and body["cause"] == "Forbidden", body)

    def refusals():
        e = expect_raises(requests.exceptions.HTTPError, lexicon("pat_" + "x" * 40).authenticate)
        body = e.response.json()
        expect(e.response.status_code == 401 and set(body) == {"code", "message", "object", "cause"}, body)
        ro = lexicon(READ_ONLY)
        ro.authenticate()
        e = expect_raises(requests.exceptions.HTTPError, lambda: ro.create_record("TXT", "ro", "x"))
        expect(e.response.status_code == 403, e.response.status_code)
        p = lexicon(TOKEN)
        p.authenticate()
        url = f"/domains/{ZONE}/records/dup/TXT"
        p._post(url, {"rrset_values": ["a"]})
        e = expect_raises(requests.exceptions.HTTPError, lambda: p._post(url, {"rrset_values": ["b"]}))
        expect(e.response.status_code == 409, "POST on an existing RRset")
        e = expect_raises(requests.exceptions.HTTPError, lambda: p._put(url, {"rrset_values": ["c"], "rrset_ttl": 60}))
        expect(e.response.status_code == 400, "TTL below 300")
        p._put(url, {"rrset_values": ["only"]})
        expect(p._get(url)["rrset_values"] == ['"only"'], "PUT replaces every value (the trap)")
        p._delete(url)
        e = expect_raises(requests.exceptions.HTTPError, lambda: lexicon(TOKEN)._get("/domains/nowhere.test"))
        expect(e.response.status_code == 404, "unknown domain")

    for n, f in [
        ("lexicon TXT RRset POST / PUT / DELETE, quoted values", rrsets),
        ("lexicon apex RRset (@)", apex),
        ("lexicon Apikey: a valid key, a retired key refused with 403", api_key),
        ("lexicon 401, 403 without permission, 409, 400, 404, PUT replaces", refusals),
    ]:
        check(n, f)


def octodns_checks():
    from octodns_gandi import GandiClientForbidden, GandiClientNotFound, GandiClientUnauthorized

    def paging():
        c = octodns(TOKEN)
        domains = sorted(d["fqdn"] for d in c.domains())
        expect(len(domains) == 121 and ZONE in domains, f"{len(domains)} domains")
        records = c.zone_records(ZONE)
        seeds = [r for r in records if r["rrset_name"].startswith("seed")]
        expect(len(seeds) == 130 and len({r["rrset_name"] for r in seeds}) == 130, f"{len(seeds)} seeded RRsets")
        seven = [r for r in seeds if r["rrset_name"] == "seed7"][0]
        expect(seven["rrset_values"] == ['"s7"'] and seven["rrset_type"] == "TXT", seven)
        expect(c.zone(ZONE)["fqdn"] == ZONE, "zone document")

    def errors():
        expect_raises(GandiClientUnauthorized, octodns("pat_" + "y" * 40).domains)
        expect_raises(GandiClientNotFound, lambda: octodns(TOKEN).zone("nowhere.test"))
        ro = octodns(READ_ONLY)
        expect_raises(GandiClientForbidden, lambda: ro.record_delete(ZONE, "seed1", "TXT"))
        c = octodns(TOKEN)
        c.record_delete(ZONE, "seed129", "TXT")
        left = [r for r in c.zone_records(ZONE) if r["rrset_name"].startswith("seed")]
        expect(len(left) == 129, f"{len(left)} after a delete")

    for n, f in [
        ("octodns-gandi domains and records paged (Total-Count)", paging),
        ("octodns-gandi 401 / 404 / 403, DELETE", errors),
    ]:
        check(n, f)


if __name__ == "__main__":
    lexicon_checks()
    octodns_checks()
    finish()
