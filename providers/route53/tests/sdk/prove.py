"""Drive the Route53 fake (providers/route53/tests/fake) with boto3, AWS's own client, and fail
on any difference from what it expects: hosted zones, UPSERT, ListResourceRecordSets paging,
GetChange, duplicate CREATE, DELETE of missing or mismatched sets, bad keys, unknown zones. Run
by this provider's `sdk` test through the kit's `prove_with_sdk`.
"""

import os

from proof import check, expect, expect_raises, finish  # noqa: F401



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
    route53_checks()
    finish()
