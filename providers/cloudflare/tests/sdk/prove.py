"""Drive the Cloudflare fake (providers/cloudflare/tests/fake) with the official `cloudflare`
Python SDK and fail on any difference from what that client expects: zones, records, filters,
PATCH/PUT, batch, paging, 81058/81044, bad and prefixed tokens. Run by this provider's `sdk`
test through the kit's `prove_with_sdk`; the fake's address and keys come in the environment.
"""

import os

from proof import check, expect, expect_raises, finish  # noqa: F401



def cloudflare_checks():
    import cloudflare
    from cloudflare import Cloudflare

    base = os.environ["CF_BASE_URL"]
    zone_name = os.environ["CF_ZONE"]
    zone_id = os.environ["CF_ZONE_ID"]
    cf = Cloudflare(api_token=os.environ["CF_TOKEN"], base_url=base, max_retries=0)
    name = f"_acme-challenge.{zone_name}"
    state = {}

    def zones():
        found = [z for z in cf.zones.list(name=zone_name)]
        expect([z.id for z in found] == [zone_id], f"zones.list(name=): {found}")
        expect(found[0].name == zone_name, found[0].name)
        expect(cf.zones.get(zone_id=zone_id).id == zone_id, "zones.get")

    def create_get_list():
        r = cf.dns.records.create(
            zone_id=zone_id, type="TXT", name=name, content='"sdk-1"', ttl=60,
            comment="wildcert ACME dns-01 challenge (removed automatically)",
        )
        state["id"] = r.id
        expect(r.content == '"sdk-1"' and r.ttl == 60 and r.type == "TXT", r)
        g = cf.dns.records.get(dns_record_id=r.id, zone_id=zone_id)
        expect(g.id == r.id and g.name == name, g)
        ids = [x.id for x in cf.dns.records.list(zone_id=zone_id, type="TXT", name={"exact": name})]
        expect(ids == [r.id], f"name.exact: {ids}")
        ids = [x.id for x in cf.dns.records.list(zone_id=zone_id, content={"exact": '"sdk-1"'})]
        expect(ids == [r.id], f"content.exact: {ids}")

    def filters():
        cf.dns.records.create(zone_id=zone_id, type="TXT", name=f"other.{zone_name}", content='"x"', ttl=60)
        got = lambda **kw: sorted(x.name for x in cf.dns.records.list(zone_id=zone_id, **kw))  # noqa: E731
        expect(got(name={"contains": "acme"}) == [name], "name.contains")
        expect(got(name={"startswith": "_acme"}) == [name], "name.startswith")
        expect(got(name={"endswith": zone_name}) == sorted([name, f"other.{zone_name}"]), "name.endswith")
        expect(got(search="other") == [f"other.{zone_name}"], "search")
        expect(got(content={"contains": "sdk"}) == [name], "content.contains")

    def duplicate():
        e = expect_raises(
            cloudflare.BadRequestError,
            lambda: cf.dns.records.create(zone_id=zone_id, type="TXT", name=name, content='"sdk-1"', ttl=60),
            "81058",
        )
        expect(e.status_code == 400, e.status_code)

    def patch_put():
        r = cf.dns.records.edit(
            dns_record_id=state["id"], zone_id=zone_id, type="TXT", name=name, content='"sdk-2"', ttl=90
        )
        expect(r.content == '"sdk-2"' and r.ttl == 90, f"PATCH: {r}")
        expect(r.comment and r.comment.startswith("wildcert"), f"PATCH keeps what it does not name: {r}")
        r = cf.dns.records.update(
            dns_record_id=state["id"], zone_id=zone_id, type="TXT", name=name, content='"sdk-3"', ttl=120
        )
        expect(r.content == '"sdk-3"' and r.ttl == 120, f"PUT: {r}")

    def batch():
        res = cf.dns.records.batch(
            zone_id=zone_id,
            deletes=[{"id": state["id"]}],
            posts=[
                {"type": "TXT", "name": name, "content": '"b-1"', "ttl": 60},
                {"type": "TXT", "name": name, "content": '"b-2"', "ttl": 60},
            ],
        )
        expect(len(res.posts or []) == 2 and len(res.deletes or []) == 1, res)
        vals = sorted(x.content for x in cf.dns.records.list(zone_id=zone_id, type="TXT", name={"exact": name}))
        expect(vals == ['"b-1"', '"b-2"'], vals)

    def paging():
        for i in range(12):
            cf.dns.records.create(zone_id=zone_id, type="TXT", name=f"page.{zone_name}", content=f'"p{i}"', ttl=60)
        seen = [x.content for x in cf.dns.records.list(zone_id=zone_id, name={"exact": f"page.{zone_name}"}, per_page=5)]
        expect(len(seen) == 12 and len(set(seen)) == 12, f"auto-paging: {seen}")
        first = cf.dns.records.list(zone_id=zone_id, name={"exact": f"page.{zone_name}"}, per_page=5)
        expect(first.result_info.page == 1 and first.result_info.per_page == 5, first.result_info)

    def delete_and_missing():
        r = cf.dns.records.create(zone_id=zone_id, type="TXT", name=name, content='"gone"', ttl=60)
        d = cf.dns.records.delete(dns_record_id=r.id, zone_id=zone_id)
        expect(d.id == r.id, d)
        expect_raises(
            cloudflare.NotFoundError,
            lambda: cf.dns.records.delete(dns_record_id=r.id, zone_id=zone_id),
            "81044",
        )
        expect_raises(cloudflare.NotFoundError, lambda: cf.dns.records.get(dns_record_id=r.id, zone_id=zone_id))

    def bad_tokens():
        unknown = Cloudflare(api_token="x" * 40, base_url=base, max_retries=0)
        expect_raises(cloudflare.AuthenticationError, lambda: list(unknown.zones.list()), "10000")
        malformed = Cloudflare(api_token="not a token", base_url=base, max_retries=0)
        expect_raises(cloudflare.BadRequestError, lambda: list(malformed.zones.list()), "6003")

    def prefixed_tokens():
        for env in ("CF_TOKEN_CFUT", "CF_TOKEN_CFAT"):
            c = Cloudflare(api_token=os.environ[env], base_url=base, max_retries=0)
            expect([z.id for z in c.zones.list(name=zone_name)] == [zone_id], env)

    for n, f in [
        ("cloudflare zones.list/get", zones),
        ("cloudflare records create/get/list", create_get_list),
        ("cloudflare list filters", filters),
        ("cloudflare duplicate (81058)", duplicate),
        ("cloudflare PATCH/PUT", patch_put),
        ("cloudflare batch", batch),
        ("cloudflare paging", paging),
        ("cloudflare delete, missing (81044)", delete_and_missing),
        ("cloudflare bad tokens", bad_tokens),
        ("cloudflare cfut_/cfat_ tokens", prefixed_tokens),
    ]:
        check(n, f)


if __name__ == "__main__":
    cloudflare_checks()
    finish()
