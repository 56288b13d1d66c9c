"""Drive the DNSimple fake (providers/dnsimple/tests/fake) with the official `dnsimple` Python
client and fail on any difference from what that client expects: whoami for an account token
and a user token, accounts, zones (get, list, pages, `name_like`), records with the `name` /
`type` filters and pages (`pagination`), create (also at the apex) / get / update / delete,
the `X-RateLimit-*` headers it reads on every answer, 400 `Validation failed` with its
attribute errors, 404, 401 for an unknown token and 403 for a token that may not write. Run by
this provider's `sdk` test through the kit's `prove_with_sdk`; the fake's address and tokens
come in the environment.
"""

import os

from proof import check, expect, expect_raises, finish


def dnsimple_checks():
    from dnsimple import Client, DNSimpleException
    from dnsimple.struct import ZoneRecordInput, ZoneRecordUpdateInput

    base = os.environ["DNSIMPLE_BASE_URL"]
    account = int(os.environ["DNSIMPLE_ACCOUNT"])
    zone = os.environ["DNSIMPLE_ZONE"]
    client = Client(access_token=os.environ["DNSIMPLE_TOKEN"], base_url=base)
    state = {}

    def whoami():
        r = client.identity.whoami()
        expect(r.data.user is None and r.data.account.id == account, vars(r.data))
        expect(r.rate_limit > 0 and r.rate_limit_remaining >= 0 and r.rate_limit_reset > 0, "rate-limit headers")
        accounts = client.accounts.list_accounts().data
        expect([a.id for a in accounts] == [account], [vars(a) for a in accounts])

    def user_token():
        user = Client(access_token=os.environ["DNSIMPLE_USER_TOKEN"], base_url=base)
        r = user.identity.whoami()
        expect(r.data.account is None and r.data.user.email, vars(r.data))
        ids = [a.id for a in user.accounts.list_accounts().data]
        expect(account in ids and len(ids) == 2, ids)
        e = expect_raises(DNSimpleException, lambda: client.zones.list_zones(2020))
        expect(e.status == 404 and e.message, (e.status, e.message))

    def zones():
        got = client.zones.get_zone(account, zone).data
        expect(got.name == zone and got.account_id == account and got.active, vars(got))
        r = client.zones.list_zones(account)
        expect(zone in [z.name for z in r.data], [z.name for z in r.data])
        p = r.pagination
        expect(p.current_page == 1 and p.per_page == 30 and p.total_entries == 2 and p.total_pages == 1, vars(p))
        like = client.zones.list_zones(account, filter={"name_like": "other"}).data
        expect([z.name for z in like] == ["other.test"], [z.name for z in like])
        e = expect_raises(DNSimpleException, lambda: client.zones.get_zone(account, "nowhere.test"))
        expect(e.status == 404 and "not found" in e.message, (e.status, e.message))

    def create_get():
        rec = client.zones.create_record(account, zone, ZoneRecordInput(
            name="_acme-challenge", type="TXT", content="sdk-1", ttl=120)).data
        state["id"] = rec.id
        expect(isinstance(rec.id, int) and rec.zone_id == zone, vars(rec))
        expect(rec.name == "_acme-challenge" and rec.content == "sdk-1" and rec.ttl == 120, vars(rec))
        expect(rec.type == "TXT" and rec.system_record is False and rec.regions == ["global"], vars(rec))
        got = client.zones.get_record(account, zone, rec.id).data
        expect(vars(got) == vars(rec), (vars(got), vars(rec)))
        apex = client.zones.create_record(account, zone, ZoneRecordInput(
            name="", type="TXT", content="apex")).data
        expect(apex.name == "" and apex.ttl == 3600, vars(apex))

    def filters():
        got = client.zones.list_records(account, zone, filter={"name": "_acme-challenge", "type": "TXT"})
        expect([r.content for r in got.data] == ["sdk-1"], [vars(r) for r in got.data])
        expect(got.pagination.total_entries == 1, vars(got.pagination))
        like = client.zones.list_records(account, zone, filter={"name_like": "acme"}).data
        expect([r.content for r in like] == ["sdk-1"], [r.content for r in like])

    def pages():
        first = client.zones.list_records(account, zone, filter={"name": "many", "type": "TXT"})
        expect(len(first.data) == 30, "30 a page by default")
        p = first.pagination
        expect(p.total_entries == 75 and p.total_pages == 3 and p.per_page == 30, vars(p))
        seen = []
        for page in range(1, 4):
            r = client.zones.list_records(account, zone, filter={"name": "many"}, page=page, per_page=30)
            expect(r.pagination.current_page == page, vars(r.pagination))
            seen += [x.content for x in r.data]
        expect(len(set(seen)) == 75, len(set(seen)))
        big = client.zones.list_records(account, zone, per_page=100)
        expect(len(big.data) >= 77 and big.pagination.per_page == 100, big.pagination.per_page)
        capped = client.zones.list_records(account, zone, per_page=500)
        expect(capped.pagination.per_page == 100, "at most 100 a page")

    def update():
        r = client.zones.update_record(account, zone, state["id"], ZoneRecordUpdateInput(content="sdk-2")).data
        expect(r.content == "sdk-2" and r.ttl == 120 and r.name == "_acme-challenge", vars(r))

    def validation():
        e = expect_raises(DNSimpleException, lambda: client.zones.create_record(
            account, zone, ZoneRecordInput(name="x", type="TXT", content="")))
        expect(e.status == 400 and e.message == "Validation failed", (e.status, e.message))
        expect("content" in e.attribute_errors, e.attribute_errors)

    def delete():
        r = client.zones.delete_record(account, zone, state["id"])
        expect(r.data is None and r.http_response.status_code == 204, r.http_response.status_code)
        e = expect_raises(DNSimpleException, lambda: client.zones.get_record(account, zone, state["id"]))
        expect(e.status == 404 and "Record" in e.message, (e.status, e.message))

    def auth():
        bad = Client(access_token="dnsimple_unknown", base_url=base)
        e = expect_raises(DNSimpleException, lambda: bad.identity.whoami())
        expect(e.status == 401 and e.message == "Authentication failed", (e.status, e.message))
        ro = Client(access_token=os.environ["DNSIMPLE_TOKEN_READ_ONLY"], base_url=base)
        expect(zone in [z.name for z in ro.zones.list_zones(account).data], "a read-only token lists")
        e = expect_raises(DNSimpleException, lambda: ro.zones.create_record(
            account, zone, ZoneRecordInput(name="x", type="TXT", content="y")))
        expect(e.status == 403 and e.message.startswith("Permission Denied"), (e.status, e.message))

    for n, f in [
        ("dnsimple whoami / accounts (account token)", whoami),
        ("dnsimple whoami / accounts (user token), 404 for another account", user_token),
        ("dnsimple zones get/list/name_like/404", zones),
        ("dnsimple records create/get, apex", create_get),
        ("dnsimple records name/type/name_like filters", filters),
        ("dnsimple records pages (pagination)", pages),
        ("dnsimple records update", update),
        ("dnsimple 400 Validation failed", validation),
        ("dnsimple delete, 404 after", delete),
        ("dnsimple 401 / 403", auth),
    ]:
        check(n, f)


if __name__ == "__main__":
    dnsimple_checks()
    finish()
