"""Drive the Porkbun fake (providers/porkbun/tests/fake) with two independent Porkbun clients
and fail on any difference from what they expect. Porkbun publishes no Python SDK of its own;
`pkb_client` (the client certbot-dns-porkbun is built on) takes the API root as its
`api_endpoint` argument, and dns-lexicon's `porkbun` provider keeps it in the attribute
`api_endpoint`, set in `__init__`: each lexicon instance gets the fake's address there right
after construction, nothing else of the client is changed.

Checked: ping, listAll in chunks of 1,000 (an empty list past the end), create (relative name,
"" for the apex, TTL below 600 raised to 600), retrieve (all, by id), retrieveByNameType,
edit, delete by id, deleteByNameType, the record fields pkb_client parses (string ids and TTLs,
prio, notes), an invalid key pair, a domain that is not opted in to API access, an invalid
domain, GET refused; lexicon's authenticate/list/create/delete. Run by this provider's `sdk`
test through the kit's `prove_with_sdk`; the address and keys come in the environment.
"""

import os

from proof import check, expect, expect_raises, finish


def porkbun_checks():
    import requests
    from pkb_client.client import DNSRecordType, PKBClient, PKBClientException

    base = os.environ["PB_API_URL"]
    key, secret = os.environ["PB_API_KEY"], os.environ["PB_SECRET_KEY"]
    zone, closed = os.environ["PB_ZONE"], os.environ["PB_CLOSED_ZONE"]
    fqdn = f"_acme-challenge.{zone}"
    pkb = PKBClient(key, secret, api_endpoint=base)
    state = {}

    def ping_and_domains():
        expect(pkb.ping() == "127.0.0.1", "ping answers yourIp")
        first = pkb.get_domains(0)
        expect(len(first) == 1000, len(first))
        second = pkb.get_domains(1000)
        names = [d.domain for d in first + second]
        expect(len(names) == 1007 and zone in names and closed in names, len(names))
        expect(pkb.get_domains(2000) == [], "empty past the end")
        expect(first[0].status == "ACTIVE" and first[0].tld == "test", first[0])

    def create_retrieve():
        rid = pkb.create_dns_record(zone, DNSRecordType.TXT, "pkb-1", name="_acme-challenge", ttl=300)
        expect(rid.isdigit(), rid)
        state["id"] = rid
        got = pkb.get_dns_records(zone, rid)
        expect(len(got) == 1 and got[0].id == rid and got[0].name == fqdn, got)
        expect(got[0].content == "pkb-1" and got[0].ttl == 600, "TTL raised to 600")
        expect(got[0].notes == "" and got[0].prio is None, got[0])
        apex = pkb.create_dns_record(zone, DNSRecordType.TXT, "apex", ttl=3600)
        a = pkb.get_dns_records(zone, apex)[0]
        expect(a.name == zone and a.ttl == 3600, a)
        by = pkb.get_all_dns_records(zone, DNSRecordType.TXT, "_acme-challenge")
        expect(sorted(r.content for r in by) == ["foreign", "pkb-1"], by)
        every = pkb.get_dns_records(zone)
        expect({"foreign", "pkb-1", "apex"} <= {r.content for r in every}, every)

    def edit_delete():
        expect(pkb.update_dns_record(zone, state["id"], DNSRecordType.TXT, "pkb-2",
                                     name="_acme-challenge", ttl=900) is True, "edit")
        r = pkb.get_dns_records(zone, state["id"])[0]
        expect(r.content == "pkb-2" and r.ttl == 900, r)
        expect(pkb.delete_dns_record(zone, state["id"]) is True, "delete")
        expect(pkb.get_dns_records(zone, state["id"]) == [], "gone")
        expect_raises(PKBClientException, lambda: pkb.delete_dns_record(zone, state["id"]),
                      contains="Invalid record ID")
        pkb.create_dns_record(zone, DNSRecordType.TXT, "x", name="bulk")
        pkb.create_dns_record(zone, DNSRecordType.TXT, "y", name="bulk")
        expect(pkb.delete_all_dns_records(zone, DNSRecordType.TXT, "bulk") is True, "deleteByNameType")
        expect(pkb.get_all_dns_records(zone, DNSRecordType.TXT, "bulk") == [], "bulk gone")
        left = pkb.get_all_dns_records(zone, DNSRecordType.TXT, "_acme-challenge")
        expect([r.content for r in left] == ["foreign"], left)

    def refusals():
        bad = PKBClient(key, "sk1_wrong", api_endpoint=base)
        expect_raises(PKBClientException, bad.ping, contains="Invalid API key")
        expect_raises(PKBClientException, lambda: pkb.get_dns_records(closed),
                      contains="Domain is not opted in to API access.")
        expect_raises(PKBClientException, lambda: pkb.get_dns_records(f"sub.{zone}"),
                      contains="Invalid domain.")
        r = requests.get(base + "ping")
        expect(r.status_code == 400 and r.json()["status"] == "ERROR", r.text)

    def lexicon():
        from lexicon.config import ConfigResolver
        from lexicon._private.providers.porkbun import Provider

        config = ConfigResolver().with_dict({"provider_name": "porkbun", "domain": zone, "ttl": 600,
                                             "porkbun": {"auth_key": key, "auth_secret": secret}})
        p = Provider(config)
        p.api_endpoint = base.rstrip("/")  # the one change: the fake instead of api.porkbun.com
        p.authenticate()
        expect(p.create_record("TXT", fqdn, "lexicon-1") is True, "create")
        expect(p.create_record("TXT", fqdn, "lexicon-1") is True, "re-create is a no-op")
        got = p.list_records("TXT", fqdn)
        expect(sorted(r["content"] for r in got) == ["foreign", "lexicon-1"], got)
        expect(all(r["name"] == fqdn for r in got), got)
        expect(p.delete_record(None, "TXT", fqdn, "lexicon-1") is True, "delete by content")
        expect([r["content"] for r in p.list_records("TXT", fqdn)] == ["foreign"], "foreign kept")

    for n, f in [
        ("pkb_client ping, listAll in chunks of 1000", ping_and_domains),
        ("pkb_client create/retrieve/retrieveByNameType, TTL >= 600", create_retrieve),
        ("pkb_client edit/delete/deleteByNameType", edit_delete),
        ("pkb_client invalid key, not opted in, invalid domain, GET", refusals),
        ("lexicon porkbun authenticate/create/list/delete", lexicon),
    ]:
        check(n, f)


if __name__ == "__main__":
    porkbun_checks()
    finish()
