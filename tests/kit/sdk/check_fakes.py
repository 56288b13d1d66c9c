"""Drive the API fakes with the official clients and fail on any difference from what those
clients expect: the Cloudflare fake (providers/cloudflare/tests/fake) with the `cloudflare`
Python SDK, the Route53 fake (providers/route53/tests/fake) with boto3. Run by each provider's
tests through the kit's `prove_with_sdk` as `check_fakes.py cloudflare|route53` (the fake's
address and keys come in the environment; no argument: both); exits non-zero with one line
per failed check.

Covers the calls the providers make and the error paths: duplicate, missing, bad token or key,
paging.
"""

import json
import os
import sys
import traceback

FAILED = []


def check(name, fn):
    try:
        fn()
        print(f"ok   {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        FAILED.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        traceback.print_exc(limit=3)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_raises(exc, fn, contains=None):
    try:
        fn()
    except exc as e:
        text = str(e) + " " + json.dumps(getattr(e, "body", None), default=str)
        if contains is not None and contains not in text:
            raise AssertionError(f"{exc.__name__} without {contains!r}: {text}") from e
        return e
    raise AssertionError(f"expected {exc.__name__}")


# ------------------------------------------------------------------------------------------
# Cloudflare


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


# ------------------------------------------------------------------------------------------
# Route53


def route53_checks():
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    endpoint = os.environ["R53_ENDPOINT"]
    zone_id = os.environ["R53_ZONE_ID"]
    zone = os.environ["R53_ZONE"]
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"})

    def client(akid=None, secret=None):
        return boto3.client(
            "route53",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=akid or os.environ["R53_AKID"],
            aws_secret_access_key=secret or os.environ["R53_SECRET"],
            config=cfg,
        )

    r53 = client()
    name = f"_acme-challenge.{zone}."

    def change(action, n, values, ttl=60):
        return r53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": action,
                        "ResourceRecordSet": {
                            "Name": n,
                            "Type": "TXT",
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": f'"{v}"'} for v in values],
                        },
                    }
                ]
            },
        )

    def code_of(fn):
        try:
            fn()
        except ClientError as e:
            return e.response["Error"]["Code"], e.response["Error"]["Message"]
        raise AssertionError("expected a ClientError")

    def zones():
        z = r53.list_hosted_zones_by_name(DNSName=zone, MaxItems="1")
        ids = [h["Id"] for h in z["HostedZones"]]
        expect(ids == [f"/hostedzone/{zone_id}"], ids)
        expect(z["HostedZones"][0]["Name"] == f"{zone}.", z["HostedZones"][0]["Name"])

    def upsert_list_getchange():
        info = change("UPSERT", name, ["a", "b"])["ChangeInfo"]
        expect(info["Status"] in ("PENDING", "INSYNC"), info)
        got = r53.get_change(Id=info["Id"])["ChangeInfo"]
        expect(got["Status"] == "INSYNC", got)
        sets = r53.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=name, StartRecordType="TXT", MaxItems="1"
        )["ResourceRecordSets"]
        expect(sets[0]["Name"] == name and sets[0]["TTL"] == 60, sets)
        expect(sorted(r["Value"] for r in sets[0]["ResourceRecords"]) == ['"a"', '"b"'], sets)

    def duplicate():
        c, m = code_of(lambda: change("CREATE", name, ["a", "b"]))
        expect(c == "InvalidChangeBatch" and "already exists" in m, (c, m))

    def missing_and_mismatch():
        c, m = code_of(lambda: change("DELETE", f"_nothing.{zone}.", ["x"]))
        expect(c == "InvalidChangeBatch" and "not found" in m, (c, m))
        c, m = code_of(lambda: change("DELETE", name, ["a"]))
        expect(c == "InvalidChangeBatch" and "do not match" in m, (c, m))
        change("DELETE", name, ["a", "b"])

    def paging():
        for i in range(7):
            change("UPSERT", f"p{i}.{zone}.", [f"v{i}"])
        pages = list(
            r53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone_id, PaginationConfig={"PageSize": 2}
            )
        )
        names = [s["Name"] for p in pages for s in p["ResourceRecordSets"]]
        expect(len(pages) >= 4, f"{len(pages)} pages")
        expect(sorted(names) == sorted(f"p{i}.{zone}." for i in range(7)), names)
        expect(pages[0]["IsTruncated"] and "NextRecordName" in pages[0], pages[0])

    def bad_credentials():
        c, _ = code_of(lambda: client(akid="AKIAUNKNOWNKEY000000").list_hosted_zones_by_name())
        expect(c == "InvalidClientTokenId", c)
        c, _ = code_of(lambda: client(secret="wrong-secret").list_hosted_zones_by_name())
        expect(c == "SignatureDoesNotMatch", c)

    def unknown_zone():
        c, _ = code_of(lambda: r53.list_resource_record_sets(HostedZoneId="ZNOSUCHZONE"))
        expect(c == "NoSuchHostedZone", c)

    for n, f in [
        ("route53 ListHostedZonesByName", zones),
        ("route53 UPSERT, ListResourceRecordSets, GetChange", upsert_list_getchange),
        ("route53 duplicate CREATE", duplicate),
        ("route53 DELETE missing / mismatched", missing_and_mismatch),
        ("route53 paging (NextRecordName)", paging),
        ("route53 bad key / secret", bad_credentials),
        ("route53 unknown zone", unknown_zone),
    ]:
        check(n, f)


if __name__ == "__main__":
    sections = {"cloudflare": cloudflare_checks, "route53": route53_checks}
    for section in sys.argv[1:] or list(sections):
        if section not in sections:
            print(f"unknown section {section!r}; known: {', '.join(sections)}")
            sys.exit(2)
        sections[section]()
    if FAILED:
        print(f"{len(FAILED)} check(s) failed: {', '.join(FAILED)}")
        sys.exit(1)
    print("all checks passed")
