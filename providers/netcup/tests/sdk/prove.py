"""Drive the netcup CCP DNS API fake (providers/netcup/tests/fake) with the client netcup users
run (netcup publishes no official Python SDK) and fail on any difference from what it expects:

- dns-lexicon's `netcup` provider (which certbot-dns-netcup wraps): login, infoDnsZone (the
  zone's TTL), infoDnsRecords, updateDnsRecords creating (no `id`), updating (`id`) and deleting
  (`id` + `deleterecord`, type/hostname/destination repeated) TXT records, the apex as `@`, an
  empty hostname refused, every record of the zone in one answer, netcup's error documents
  (`status`/`statuscode`/`longmessage`) raised as lexicon raises them.
- raw requests shaped as lego's netcup client sends them: the answer envelope's fields, logout,
  a session used after logout (4001), a zone without records (5029), a bad login (4013), and
  netcup's "More than 180 requests per minute" (4013, HTTP 200).

lexicon takes the endpoint as its `api_endpoint` option. Run by this provider's `sdk` test
through the kit's `prove_with_sdk`; the fake's address and credentials come in the environment.
"""

import os

import requests

from proof import check, expect, expect_raises, finish

URL = os.environ["NETCUP_ENDPOINT"]  # http://127.0.0.1:PORT/run/webservice/servers/endpoint.php?JSON
CUSTOMER = os.environ["NETCUP_CUSTOMER"]
KEY = os.environ["NETCUP_KEY"]
PASSWORD = os.environ["NETCUP_PASSWORD"]
ZONE = os.environ["NETCUP_ZONE"]
EMPTY = os.environ["NETCUP_EMPTY_ZONE"]
ENVELOPE = {"serverrequestid", "clientrequestid", "action", "status", "statuscode", "shortmessage",
            "longmessage", "responsedata"}


def lexicon(password=PASSWORD, domain=ZONE):
    from lexicon._private.providers.netcup import Provider
    from lexicon.config import ConfigResolver

    cfg = {"provider_name": "netcup", "domain": domain,
           "netcup": {"auth_customer_id": CUSTOMER, "auth_api_key": KEY, "auth_api_password": password,
                      "api_endpoint": URL}}
    return Provider(ConfigResolver().with_dict(cfg))


def raw(action, **param):
    r = requests.post(URL, json={"action": action, "param": param}, timeout=10)
    expect(r.status_code == 200, f"HTTP {r.status_code} for {action}")
    doc = r.json()
    expect(set(doc) == ENVELOPE, f"envelope of {action}: {sorted(doc)}")
    return doc


def login():
    doc = raw("login", customernumber=CUSTOMER, apikey=KEY, apipassword=PASSWORD)
    expect(doc["status"] == "success" and doc["statuscode"] == 2000, doc)
    return doc["responsedata"]["apisessionid"]


def lexicon_checks():
    name = f"_acme-challenge.{ZONE}"

    def records():
        p = lexicon()
        p.authenticate()
        expect(str(p.zone_ttl) == "86400", f"zone ttl {p.zone_ttl!r}")
        expect(p.list_records("TXT", name) == [], "nothing yet")
        p.create_record("TXT", name, "lex-1")
        p.create_record("TXT", name, "lex-2")
        p.create_record("TXT", name, "lex-2")  # lexicon lists first: no duplicate
        got = p.list_records("TXT", name)
        expect(sorted(r["content"] for r in got) == ["lex-1", "lex-2"], got)
        expect(all(r["name"] == name and r["id"].isdigit() for r in got), got)
        one = [r for r in got if r["content"] == "lex-1"][0]
        p.update_record(one["id"], "TXT", name, "lex-1b")  # updateDnsRecords with the id
        got = sorted(r["content"] for r in p.list_records("TXT", name))
        expect(got == ["lex-1b", "lex-2"], got)
        p.delete_record(rtype="TXT", name=name, content="lex-1b")
        p.delete_record(rtype="TXT", name=name, content="lex-2")
        expect(p.list_records("TXT", name) == [], "both deleted")
        seeds = [r for r in p.list_records("TXT") if r["name"].startswith("seed")]
        expect(len(seeds) == 120, f"{len(seeds)} seeded records in one answer")

    def apex():
        p = lexicon()
        p.authenticate()
        p.create_record("TXT", "@", "apex-1")
        got = p.list_records("TXT", "@")
        expect([r["content"] for r in got] == ["apex-1"], got)
        p.delete_record(rtype="TXT", name="@", content="apex-1")
        expect(p.list_records("TXT", "@") == [], "apex record deleted")
        # lexicon names the apex by its relative name, "": netcup refuses an empty host.
        e = expect_raises(Exception, lambda: p.create_record("TXT", ZONE, "empty-host"))
        expect("(4013)" in str(e), str(e))

    def errors():
        e = expect_raises(Exception, lexicon(password="wrong-password").authenticate)
        expect("(4013)" in str(e), str(e))
        e = expect_raises(Exception, lexicon(domain="nowhere.test").authenticate)
        expect("could not be found" in str(e) and "(5031)" in str(e), str(e))
        dead = lexicon(domain=EMPTY)
        dead.api_session_id = "NoSuchSession0000000000000000000"
        e = expect_raises(Exception, dead.list_records)
        expect("(4001)" in str(e), str(e))
        p = lexicon(domain=EMPTY)
        p.authenticate()
        e = expect_raises(Exception, p.list_records)
        expect("(5029)" in str(e), f"a zone without records: {e}")

    for n, f in [
        ("lexicon TXT records created, updated by id, deleted", records),
        ("lexicon apex as @, empty host refused", apex),
        ("lexicon errors: bad login 4013, unknown zone 5031, no session 4001, empty zone 5029", errors),
    ]:
        check(n, f)


def raw_checks():
    def sessions():
        sid = login()
        doc = raw("infoDnsZone", domainname=ZONE, customernumber=CUSTOMER, apikey=KEY, apisessionid=sid)
        expect(doc["responsedata"]["name"] == ZONE and doc["responsedata"]["dnssecstatus"] is False, doc)
        doc = raw("logout", customernumber=CUSTOMER, apikey=KEY, apisessionid=sid)
        expect(doc["status"] == "success" and doc["responsedata"] == "", doc)
        doc = raw("infoDnsRecords", domainname=ZONE, customernumber=CUSTOMER, apikey=KEY, apisessionid=sid)
        expect(doc["statuscode"] == 4001 and doc["status"] == "error" and doc["responsedata"] == "", doc)
        doc = raw("login", customernumber=CUSTOMER, apikey=KEY, apipassword="nope")
        expect(doc["statuscode"] == 4013 and doc["shortmessage"] == "Validation Error.", doc)

    def update_shapes():
        sid = login()
        auth = {"customernumber": CUSTOMER, "apikey": KEY, "apisessionid": sid}
        doc = raw("updateDnsRecords", domainname=ZONE, **auth, dnsrecordset={"dnsrecords": [
            {"hostname": "raw", "type": "TXT", "destination": "r1"}]})
        mine = [r for r in doc["responsedata"]["dnsrecords"] if r["hostname"] == "raw"]
        expect(len(mine) == 1 and mine[0]["state"] == "yes" and mine[0]["deleterecord"] is False, mine)
        doc = raw("updateDnsRecords", domainname=ZONE, **auth, dnsrecordset={"dnsrecords": [
            {"id": mine[0]["id"], "deleterecord": True}]})
        expect(doc["statuscode"] == 4013, f"delete without type/hostname/destination: {doc}")
        doc = raw("updateDnsRecords", domainname=ZONE, **auth, dnsrecordset={"dnsrecords": [
            dict(mine[0], deleterecord=True)]})
        expect(doc["statuscode"] == 2000, doc)
        left = [r for r in doc["responsedata"]["dnsrecords"] if r["hostname"] == "raw"]
        expect(left == [], left)
        raw("logout", **auth)

    def rate_limit():
        for _ in range(150):
            doc = raw("login", customernumber=CUSTOMER, apikey=KEY, apipassword="nope")
            if "requests per minute" in doc["longmessage"]:
                expect(doc["statuscode"] == 4013 and doc["status"] == "error", doc)
                e = expect_raises(Exception, lexicon().authenticate)
                expect("180 requests per minute" in str(e), str(e))
                return
        raise AssertionError("no rate limit within 150 requests")

    for n, f in [
        ("raw: envelope, logout, dead session 4001, bad login 4013", sessions),
        ("raw: updateDnsRecords create / delete shapes", update_shapes),
        ("raw: more than the requests of a minute, 4013 on HTTP 200", rate_limit),
    ]:
        check(n, f)


if __name__ == "__main__":
    lexicon_checks()
    raw_checks()
    finish()
