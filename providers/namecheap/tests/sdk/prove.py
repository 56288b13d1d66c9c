"""Drive the Namecheap XML API fake (providers/namecheap/tests/fake) with dns-lexicon's
`namecheap` provider and fail on any difference from what that client expects. Namecheap
publishes no Python SDK; lexicon's provider carries a trimmed copy of PyNamecheap (`_Api`):
it POSTs the global parameters in the query (and the host list in a form body when it is
long), reads `Status`, `Errors/Error[@Number]` and the hosts under the API's XML namespace,
and splits the domain into SLD/TLD with tldextract (offline: its bundled suffix list). Its
endpoint is the attribute `client.endpoint`, set in `__init__`; each instance here gets the
fake's address there right after construction, nothing else of the client is changed.

Checked: authenticate (domains.getInfo, IsOwner), the hosts of a realistic zone read back
(A, CNAME, MX with its MXPref, URL301, SPF TXT, TTLs), create / list / delete of TXT records
through getHosts + setHosts with every other host sent back, on a domain under a two-label TLD
(co.uk), 1011102 for a wrong key, 1011150 naming the address for a non-whitelisted caller,
2016166 for a domain of another account. Run by this provider's `sdk` test through the kit's
`prove_with_sdk`; addresses and keys come in the environment.
"""

import logging
import os

from proof import check, expect, expect_raises, finish

logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # no network: its snapshot is used


def namecheap_checks():
    from lexicon.config import ConfigResolver
    from lexicon.exceptions import AuthenticationError
    from lexicon._private.providers.namecheap import Provider

    base, user, key = os.environ["NC_BASE_URL"], os.environ["NC_USER"], os.environ["NC_KEY"]

    def client(domain, api_key=key, endpoint=base, ttl=None):
        cfg = {
            "provider_name": "namecheap",
            "domain": domain,
            "namecheap": {"auth_username": user, "auth_token": api_key, "auth_client_ip": "192.0.2.10"},
        }
        if ttl:
            cfg["ttl"] = ttl
        p = Provider(ConfigResolver().with_dict(cfg))
        p.client.endpoint = endpoint  # the one change: the fake instead of api.namecheap.com
        return p

    com, uk = "wildcert-proof.com", "wildcert-proof.co.uk"

    def authenticate():
        p = client(com)
        p.authenticate()
        expect(p.domain_id == com, p.domain_id)
        client(uk).authenticate()

    def read_realistic_zone():
        got = {(r["type"], r["name"], r["content"], r["ttl"]) for r in client(com).list_records()}
        want = {
            # lexicon appends the domain to Namecheap's "@" for the apex
            ("A", f"@.{com}", "192.0.2.10", "1800"),
            ("CNAME", f"www.{com}", "parkingpage.namecheap.com.", "1800"),
            ("MX", f"@.{com}", "10 mx1.privateemail.com.", "3600"),
            ("TXT", f"@.{com}", "v=spf1 include:spf.privateemail.com ~all", "1799"),
            ("URL301", f"old.{com}", "https://www.wildcert-proof.com/new", "1800"),
        }
        expect(got == want, got)
        raw = client(com).client.domains_dns_get_hosts(com)
        expect(all(h["HostId"].isdigit() and h["IsDDNSEnabled"] == "false" for h in raw), raw)

    def create_list_delete():
        p = client(uk, ttl=300)
        name = f"_acme-challenge.{uk}"
        p.create_record("TXT", name, "lex-1")
        p.create_record("TXT", name, "lex-2")
        got = p.list_records("TXT", name)
        expect(sorted(r["content"] for r in got) == ["lex-1", "lex-2"], got)
        expect({(r["name"], r["ttl"]) for r in got} == {(name, "300")}, got)
        raw = [h for h in p.client.domains_dns_get_hosts(uk) if h["Type"] == "TXT"]
        expect({h["Name"] for h in raw} == {"_acme-challenge"} and len(raw) == 2, raw)
        p.delete_record(rtype="TXT", name=name, content="lex-1")
        expect([r["content"] for r in p.list_records("TXT", name)] == ["lex-2"], "one removed, one kept")
        p.create_record("A", f"www.{uk}", "192.0.2.20")
        p.delete_record(rtype="TXT", name=name, content="lex-2")
        expect(p.list_records("TXT", name) == [], "both gone")
        expect([r["content"] for r in p.list_records("A")] == ["192.0.2.20"], "the A host kept")

    def refusals():
        e = expect_raises(AuthenticationError, client(com, api_key="f" * 32).authenticate)
        expect("1011102" in str(e) and "API Key is invalid" in str(e), str(e))
        blocked = client(com, endpoint=os.environ["NC_BLOCKED_URL"])
        e = expect_raises(AuthenticationError, blocked.authenticate)
        expect("1011150" in str(e) and "Invalid request IP: 203.0.113.7" in str(e), str(e))
        e = expect_raises(AuthenticationError, client("someone-else.com").authenticate)
        expect("2016166" in str(e), str(e))
        e = expect_raises(AuthenticationError, client("nowhere.com").authenticate)
        expect("2019166" in str(e), str(e))

    for n, f in [
        ("lexicon authenticate (domains.getInfo)", authenticate),
        ("lexicon list_records: a realistic zone read back (getHosts)", read_realistic_zone),
        ("lexicon create / list / delete TXT through getHosts + setHosts (co.uk)", create_list_delete),
        ("lexicon 1011102 wrong key / 1011150 not whitelisted / 2016166 / 2019166", refusals),
    ]:
        check(n, f)


if __name__ == "__main__":
    namecheap_checks()
    finish()
