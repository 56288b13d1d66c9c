"""Drive the Linode fake (providers/linode/tests/fake) with the official `linode_api4` client
and fail on any difference from what that client expects: domains (every page, `X-Filter`),
one domain by id, records (every page; the client checks `pages` and `results` stay the same
from page to page), create with Linode's TTL rounding, get, delete, 404, 400 with
the field, 401 for an unknown token and for a token without the Domains Read/Write scope, 403
for a restricted user with Read Only access. Run by this provider's `sdk` test through the
kit's `prove_with_sdk`; the fake's address and tokens come in the environment.
"""

import os

from proof import check, expect, expect_raises, finish


def linode_checks():
    from linode_api4 import ApiError, Domain, DomainRecord, LinodeClient

    base = os.environ["LINODE_BASE_URL"]
    zone = os.environ["LINODE_ZONE"]
    client = LinodeClient(os.environ["LINODE_TOKEN"], base_url=base, retry=False)
    state = {}

    def domains():
        every = client.domains()
        names = [d.domain for d in every]
        expect(len(every) == 121 and len(set(names)) == 121 and zone in names, len(names))
        only = client.domains(Domain.domain == zone)
        expect(len(only) == 1 and only[0].domain == zone, list(only))
        state["domain"] = only[0]
        one = Domain(client, only[0].id)
        expect(one.domain == zone and one.type == "master" and one.status == "active", one._raw_json)

    def records_pages():
        records = state["domain"].records
        expect(len(records) == 130, len(records))
        targets = {r.target for r in records}
        expect(targets == {f"seed-{i}" for i in range(130)}, len(targets))
        expect(all(r.name == "many" and r.type == "TXT" for r in records), "relative names")
        raw = client.get(f"/domains/{state['domain'].id}/records?page=2&page_size=25",
                         filters={"name": "many", "type": "TXT"})
        expect(raw["page"] == 2 and raw["pages"] == 6 and raw["results"] == 130, raw)
        expect(len(raw["data"]) == 25, len(raw["data"]))

    def create_get():
        d = state["domain"]
        rec = d.record_create("TXT", name="_acme-challenge", target="sdk-1", ttl_sec=30)
        expect(isinstance(rec.id, int) and rec.target == "sdk-1", rec._raw_json)
        expect(rec.ttl_sec == 300, "30 rounded to 300")
        long = d.record_create("TXT", name=f"_acme-challenge.www.{zone}", target="sdk-long", ttl_sec=3000)
        expect(long.name == "_acme-challenge.www" and long.ttl_sec == 3600, long._raw_json)
        apex = d.record_create("TXT", target="apex")
        expect(apex.name == "", apex._raw_json)
        got = DomainRecord(client, rec.id, d.id)
        expect(got.target == "sdk-1" and got.name == "_acme-challenge", got._raw_json)
        state["rec"] = got

    def delete():
        rec = state["rec"]
        expect(rec.delete() is True, "delete")
        e = expect_raises(ApiError, lambda: DomainRecord(client, rec.id, state["domain"].id).target)
        expect(e.status == 404 and e.errors == ["Not found"], (e.status, e.errors))

    def bad_request():
        e = expect_raises(ApiError, lambda: state["domain"].record_create("TXT", name="x"))
        expect(e.status == 400 and "target" in str(e), str(e))

    def auth():
        bad = LinodeClient("lin-unknown", base_url=base, retry=False)
        e = expect_raises(ApiError, lambda: list(bad.domains()))
        expect(e.status == 401 and e.errors == ["Invalid Token"], (e.status, e.errors))
        for token, status in [("LINODE_TOKEN_READ_ONLY", 401), ("LINODE_TOKEN_RESTRICTED", 403)]:
            other = LinodeClient(os.environ[token], base_url=base, retry=False)
            d = other.domains(Domain.domain == zone)[0]
            e = expect_raises(ApiError, lambda: d.record_create("TXT", name="x", target="y"))
            says = "not authorized" if status == 401 else "Unauthorized"
            expect(e.status == status and says in " ".join(e.errors), (token, e.status, e.errors))

    for n, f in [
        ("linode_api4 domains: pages, X-Filter, by id", domains),
        ("linode_api4 records: pages, relative names", records_pages),
        ("linode_api4 record create (TTL rounding) / get", create_get),
        ("linode_api4 record delete, 404 after", delete),
        ("linode_api4 400 names the field", bad_request),
        ("linode_api4 401 token / 401 scope / 403 restricted", auth),
    ]:
        check(n, f)


if __name__ == "__main__":
    linode_checks()
    finish()
