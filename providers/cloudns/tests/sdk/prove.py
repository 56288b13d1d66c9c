"""Drive the ClouDNS fake (providers/cloudns/tests/fake) with dns-lexicon's `cloudns` provider
and fail on any difference from what that client expects. ClouDNS publishes no Python SDK;
lexicon's provider speaks its HTTP API with `requests` (credentials as parameters: in the query
of a GET, in the form body of a POST; failures as HTTP 200 `{"status":"Failed"}`). Its endpoint
is the attribute `api_endpoint` (`https://api.cloudns.net`), set in `__init__`; each instance
here gets the fake's address there right after construction, nothing else is changed.

Checked: zone info, create (relative host, "" for the apex; ttl), no duplicate on re-create,
list filtered by type and host (`[]` for none), update (`mod-record`), delete by id and by
content, a sub-user (`sub-auth-id`), and the Failed answers for a wrong password and a missing
zone. Run by this provider's `sdk` test through the kit's `prove_with_sdk`.
"""

import os

from proof import check, expect, expect_raises, finish


def cloudns_checks():
    from lexicon.config import ConfigResolver
    from lexicon._private.providers.cloudns import Provider

    base = os.environ["CLOUDNS_BASE_URL"]
    domain = os.environ["CLOUDNS_DOMAIN"]
    fqdn = f"_acme-challenge.{domain}"
    state = {}

    def client(creds, dom=domain):
        config = ConfigResolver().with_dict(
            {"provider_name": "cloudns", "domain": dom, "ttl": 300, "cloudns": creds}
        )
        p = Provider(config)
        p.api_endpoint = base  # the one change: the fake instead of api.cloudns.net
        return p

    user = {"auth_id": os.environ["CLOUDNS_ID"], "auth_password": os.environ["CLOUDNS_PASSWORD"]}
    cloudns = client(user)

    def authenticate():
        cloudns.authenticate()
        expect(cloudns.domain_id == domain, cloudns.domain_id)
        missing = client(user, dom="nowhere.test")
        expect_raises(Exception, missing.authenticate, contains="Missing domain-name")

    def lists():
        many = cloudns.list_records("TXT", f"many.{domain}")
        expect(sorted(r["content"] for r in many) == sorted(f"seed-{i}" for i in range(12)), many)
        expect(all(r["name"] == f"many.{domain}" and r["ttl"] == "300" for r in many), many)
        expect(cloudns.list_records("TXT", fqdn) == [], "[] for no record")

    def create_list():
        expect(cloudns.create_record("TXT", fqdn, "lexicon-1") is True, "create")
        got = cloudns.list_records("TXT", fqdn)
        expect([r["content"] for r in got] == ["lexicon-1"], got)
        state["id"] = got[0]["id"]
        expect(state["id"].isdigit(), state["id"])
        cloudns.create_record("TXT", fqdn, "lexicon-1")
        expect(len(cloudns.list_records("TXT", fqdn)) == 1, "no duplicate")
        cloudns.create_record("TXT", fqdn, "lexicon-2")
        expect(len(cloudns.list_records("TXT", fqdn)) == 2, "second value beside the first")
        cloudns.create_record("TXT", domain, "apex")
        raw = cloudns._get("/dns/records.json", {"domain-name": domain, "type": "TXT"})
        apex = [r for r in raw.values() if r["record"] == "apex"]
        expect(len(apex) == 1 and apex[0]["host"] == "", apex)

    def update():
        expect(cloudns.update_record(state["id"], "TXT", fqdn, "lexicon-3") is True, "update")
        got = sorted(r["content"] for r in cloudns.list_records("TXT", fqdn))
        expect(got == ["lexicon-2", "lexicon-3"], got)

    def delete():
        expect(cloudns.delete_record(state["id"]) is True, "delete by id")
        expect_raises(Exception, lambda: cloudns.delete_record(state["id"]), contains="Invalid record-id")
        expect(cloudns.delete_record(None, "TXT", fqdn, "lexicon-2") is True, "delete by content")
        expect(cloudns.list_records("TXT", fqdn) == [], "both gone")
        expect(cloudns.delete_record(None, "TXT", domain, "apex") is True, "apex gone")

    def auth():
        sub = client({"auth_subid": "77", "auth_password": "SUBPASSWORD"})
        sub.authenticate()
        expect(sub.domain_id == domain, sub.domain_id)
        bad = client({"auth_id": os.environ["CLOUDNS_ID"], "auth_password": "WRONG"})
        expect_raises(Exception, bad.authenticate, contains="Invalid authentication, incorrect auth-id or auth-password.")
        bad_sub = client({"auth_subid": "77", "auth_password": "WRONG"})
        expect_raises(Exception, bad_sub.authenticate, contains="incorrect sub-auth-id")

    for n, f in [
        ("lexicon authenticate: get-zone-info, Missing domain-name", authenticate),
        ("lexicon list_records filtered by type and host, [] when empty", lists),
        ("lexicon create_record (relative host, apex \"\", no duplicate)", create_list),
        ("lexicon update_record (mod-record)", update),
        ("lexicon delete_record by id and by content", delete),
        ("lexicon sub-user, wrong passwords", auth),
    ]:
        check(n, f)


if __name__ == "__main__":
    cloudns_checks()
    finish()
