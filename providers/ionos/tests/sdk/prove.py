"""Drive the IONOS fake (providers/ionos/tests/fake) with dns-lexicon's `ionos` provider and
fail on any difference from what that client expects. IONOS publishes no Python SDK for its
hosting DNS API; lexicon's provider speaks it with `requests` (`X-API-Key` header, zones
listed whole, records created as an array, TXT content cleaned of IONOS's quotes). Its API
root is the module constant `_ZONES_API` (`https://api.hosting.ionos.com/dns/v1/zones`); it is
set to the fake's address before any call, nothing else of the client is changed.

Checked: the zone lookup by name (and a missing zone), record lists filtered by type and name,
create (one-record array: full name, unquoted content, ttl, prio, disabled) shown back quoted,
update (lexicon deletes, then creates), delete by id and by content, 404 for a record that is
gone, 401 for an unknown key, 403 for a key without API access. Run by this provider's `sdk`
test through the kit's `prove_with_sdk`; addresses and keys come in the environment.
"""

import os

from proof import check, expect, expect_raises, finish


def ionos_checks():
    import requests
    from lexicon.config import ConfigResolver
    from lexicon._private.providers import ionos as module
    from lexicon._private.providers.ionos import Provider

    module._ZONES_API = os.environ["IONOS_BASE_URL"] + "/v1/zones"  # the one change
    domain = os.environ["IONOS_DOMAIN"]
    fqdn = f"_acme-challenge.{domain}"
    state = {}

    def client(key, dom=domain):
        config = ConfigResolver().with_dict(
            {"provider_name": "ionos", "domain": dom, "ttl": 300, "ionos": {"api_key": key}}
        )
        return Provider(config)

    ionos = client(os.environ["IONOS_KEY"])

    def raw(path="", **params):
        url = module._ZONES_API + "/" + ionos.domain_id + path
        r = requests.get(url, params=params, headers={"x-api-key": os.environ["IONOS_KEY"]})
        return r

    def authenticate():
        ionos.authenticate()
        expect(ionos.domain_id == os.environ["IONOS_ZONE_ID"], ionos.domain_id)
        zones = ionos._get(module._ZONES_API)
        expect(len(zones) == 5 and all(z["type"] == "NATIVE" for z in zones), zones)
        missing = client(os.environ["IONOS_KEY"], dom="nowhere.test")
        expect_raises(Exception, missing.authenticate, contains="domain not found")

    def list_filtered():
        many = ionos.list_records("TXT", f"many.{domain}")
        expect(sorted(r["content"] for r in many) == sorted(f"seed-{i}" for i in range(12)), many)
        expect(all(r["name"] == f"many.{domain}" and r["ttl"] == 300 for r in many), many)
        a = ionos.list_records("A")
        expect([(r["name"], r["content"]) for r in a] == [(f"www.{domain}", "192.0.2.7")], a)
        everything = raw().json()
        expect(everything["name"] == domain and len(everything["records"]) == 13, everything)

    def create_list():
        expect(ionos.create_record("TXT", fqdn, "lexicon-1") is True, "create")
        got = ionos.list_records("TXT", fqdn)
        expect([r["content"] for r in got] == ["lexicon-1"], got)
        state["id"] = got[0]["id"]
        expect(len(state["id"]) == 36 and state["id"].count("-") == 4, state["id"])
        rec = raw(f"/records/{state['id']}").json()
        expect(rec["content"] == '"lexicon-1"' and rec["name"] == fqdn, rec)
        expect(rec["ttl"] == 300 and rec["type"] == "TXT" and rec["rootName"] == domain, rec)
        ionos.create_record("TXT", fqdn, "lexicon-2")
        expect(len(ionos.list_records("TXT", fqdn)) == 2, "second value beside the first")
        ionos.create_record("TXT", domain, "apex")
        apex = ionos.list_records("TXT", domain)
        expect([r["content"] for r in apex] == ["apex"] and apex[0]["name"] == domain, apex)

    def update():
        expect(ionos.update_record(state["id"], "TXT", fqdn, "lexicon-3") is True, "update")
        got = sorted(r["content"] for r in ionos.list_records("TXT", fqdn))
        expect(got == ["lexicon-2", "lexicon-3"], got)
        expect(raw(f"/records/{state['id']}").status_code == 404, "the old record is gone")

    def delete():
        ids = [r["id"] for r in ionos.list_records("TXT", fqdn, "lexicon-3")]
        expect(ionos.delete_record(ids[0]) is True, "delete by id")
        gone = raw(f"/records/{ids[0]}")
        expect(gone.status_code == 404 and gone.json()[0]["code"] == "RECORD_NOT_FOUND", gone.text)
        e = expect_raises(requests.HTTPError, lambda: ionos.delete_record(ids[0]))
        expect(e.response.status_code == 404, e.response.status_code)
        expect(ionos.delete_record(None, "TXT", fqdn, "lexicon-2") is True, "delete by content")
        expect(ionos.list_records("TXT", fqdn) == [], "both gone")
        expect(ionos.delete_record(None, "TXT", domain, "apex") is True, "apex gone")

    def auth():
        bad = client("0000.UNKNOWNKEY")
        e = expect_raises(requests.HTTPError, bad.authenticate)
        expect(e.response.status_code == 401, e.response.status_code)
        expect(e.response.json()[0]["code"] == "UNAUTHORIZED", e.response.text)
        no_api = client(os.environ["IONOS_KEY_NO_API"])
        e = expect_raises(requests.HTTPError, no_api.authenticate)
        expect(e.response.status_code == 403, e.response.status_code)

    for n, f in [
        ("lexicon authenticate: zone lookup by name", authenticate),
        ("lexicon list_records filtered by recordType / recordName", list_filtered),
        ("lexicon create_record / list_records (array body, TXT shown quoted)", create_list),
        ("lexicon update_record (delete + create)", update),
        ("lexicon delete_record by id and by content, 404 when gone", delete),
        ("lexicon 401 unknown key / 403 no API access", auth),
    ]:
        check(n, f)


if __name__ == "__main__":
    ionos_checks()
    finish()
