"""Drive the DigitalOcean fake (providers/digitalocean/tests/fake) with the official `pydo`
client and fail on any difference from what that client expects: domains, records with the
`type`/`name` filters and pages (`links.pages`, `meta.total`), create/get/PUT/PATCH/delete,
404, 422 for a TTL below 30, 401 for an unknown token and 403 for a read-only one. Run by this
provider's `sdk` test through the kit's `prove_with_sdk`; the fake's address and tokens come in
the environment.
"""

import os

from proof import check, expect, expect_raises, finish


class Loopback:
    """pydo's operations with `enforce_https=False` on every call: azure-core's bearer policy
    (which pydo uses) refuses plain http, and the fake serves http on loopback."""

    def __init__(self, client):
        self._ops = client.domains

    def __getattr__(self, name):
        op = getattr(self._ops, name)
        return lambda *a, **kw: op(*a, enforce_https=False, **kw)


def digitalocean_checks():
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
    from pydo import Client

    base = os.environ["DO_BASE_URL"]
    zone = os.environ["DO_ZONE"]
    do = Loopback(Client(token=os.environ["DO_TOKEN"], endpoint=base, retry_total=0))
    fqdn = f"_acme-challenge.{zone}"
    state = {}

    def domains():
        got = do.list()
        names = [d["name"] for d in got["domains"]]
        expect(zone in names and got["meta"]["total"] == len(names), got)
        one = do.get(domain_name=zone)
        expect(one["domain"]["name"] == zone, one)
        # pydo hands a documented 404 back as DigitalOcean's error body.
        missing = do.get(domain_name="nowhere.test")
        expect(missing["id"] == "not_found" and missing["message"], missing)

    def create_get():
        r = do.create_record(domain_name=zone, body={"type": "TXT", "name": "_acme-challenge", "data": "sdk-1", "ttl": 30})
        rec = r["domain_record"]
        state["id"] = rec["id"]
        expect(isinstance(rec["id"], int), rec)
        expect(rec["name"] == "_acme-challenge" and rec["data"] == "sdk-1" and rec["ttl"] == 30, rec)
        g = do.get_record(domain_name=zone, domain_record_id=rec["id"])["domain_record"]
        expect(g == rec, (g, rec))
        apex = do.create_record(domain_name=zone, body={"type": "TXT", "name": "@", "data": "apex", "ttl": 60})
        expect(apex["domain_record"]["name"] == "@", apex)

    def filters():
        got = do.list_records(domain_name=zone, type="TXT", name=fqdn)
        expect([r["data"] for r in got["domain_records"]] == ["sdk-1"], got)
        expect(got["meta"]["total"] == 1 and got["links"] == {}, got)

    def pages():
        many = f"many.{zone}"
        first = do.list_records(domain_name=zone, type="TXT", name=many)
        expect(len(first["domain_records"]) == 20, "20 a page by default")
        expect(first["meta"]["total"] == 45, first["meta"])
        expect("next" in first["links"]["pages"] and "last" in first["links"]["pages"], first["links"])
        seen, page = [], 1
        while True:
            got = do.list_records(domain_name=zone, type="TXT", name=many, per_page=20, page=page)
            seen += [r["data"] for r in got["domain_records"]]
            nxt = got["links"].get("pages", {}).get("next")
            if not nxt:
                break
            expect("page=%d" % (page + 1) in nxt, nxt)
            page += 1
        expect(page == 3 and len(set(seen)) == 45, (page, len(seen)))
        big = do.list_records(domain_name=zone, per_page=200)
        expect(len(big["domain_records"]) >= 45, "per_page=200")

    def update():
        r = do.patch_record(domain_name=zone, domain_record_id=state["id"], body={"data": "sdk-2"})
        expect(r["domain_record"]["data"] == "sdk-2" and r["domain_record"]["ttl"] == 30, r)
        r = do.update_record(domain_name=zone, domain_record_id=state["id"],
                                     body={"type": "TXT", "name": "_acme-challenge", "data": "sdk-3", "ttl": 120})
        expect(r["domain_record"]["data"] == "sdk-3" and r["domain_record"]["ttl"] == 120, r)

    def ttl_too_short():
        e = expect_raises(HttpResponseError, lambda: do.create_record(
            domain_name=zone, body={"type": "TXT", "name": "_acme-challenge", "data": "x", "ttl": 10}))
        expect(e.status_code == 422, e.status_code)

    def delete():
        expect(do.delete_record(domain_name=zone, domain_record_id=state["id"]) is None, "204")
        gone = do.get_record(domain_name=zone, domain_record_id=state["id"])
        expect(gone["id"] == "not_found", gone)
        again = do.delete_record(domain_name=zone, domain_record_id=state["id"])
        expect(again["id"] == "not_found", again)

    def auth():
        bad = Loopback(Client(token="dop_v1_unknown", endpoint=base, retry_total=0))
        expect_raises(ClientAuthenticationError, lambda: bad.list())
        ro = Loopback(Client(token=os.environ["DO_TOKEN_READ_ONLY"], endpoint=base, retry_total=0))
        expect(zone in [d["name"] for d in ro.list()["domains"]], "read-only token lists")
        e = expect_raises(HttpResponseError, lambda: ro.create_record(
            domain_name=zone, body={"type": "TXT", "name": "x", "data": "y", "ttl": 30}))
        expect(e.status_code == 403, e.status_code)

    for n, f in [
        ("pydo domains list/get/404", domains),
        ("pydo records create/get", create_get),
        ("pydo records type/name filters", filters),
        ("pydo records pages (links, meta.total)", pages),
        ("pydo records PATCH/PUT", update),
        ("pydo TTL below 30 (422)", ttl_too_short),
        ("pydo delete, 404 after", delete),
        ("pydo 401 / 403", auth),
    ]:
        check(n, f)


if __name__ == "__main__":
    digitalocean_checks()
    finish()
