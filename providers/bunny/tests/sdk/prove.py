"""Drive the Bunny DNS fake (providers/bunny/tests/fake) with octodns-bunny and fail on any
difference from what that client expects. Bunny publishes no Python SDK of its own; octoDNS's
Bunny provider speaks the DNS Zone API with `requests` (the key in the `AccessKey` header,
numeric record types, zone pages while `HasMoreItems`). Its API root is the class attribute
`BunnyClient.API_ROOT` (`https://api.bunny.net`): it is set to the fake's address before any
client exists, nothing else of the client is changed.

Checked: the zone list across pages (1,005 zones), a delegated sub-zone listed as a zone of its
own, a zone with its records, add (PUT, 201), delete (204), 404 for an unknown zone and record,
401 for an unknown key, and octoDNS's populate() reading the records (TTL, values, types). Run
by this provider's `sdk` test through the kit's `prove_with_sdk`; the address and key come in
the environment.
"""

import os

from proof import check, expect, expect_raises, finish


def bunny_checks():
    import octodns_bunny
    from octodns.zone import Zone
    from octodns_bunny import (BunnyClient, BunnyClientNotFound, BunnyClientUnauthorized,
                               BunnyProvider)

    BunnyClient.API_ROOT = os.environ["BUNNY_BASE_URL"]  # the one change: the fake
    key, zone = os.environ["BUNNY_KEY"], os.environ["BUNNY_ZONE"]
    client = BunnyClient(key)
    state = {}

    def zones():
        names = client.zones()
        expect(len(names) == 1005 and zone in names and f"sub.{zone}" in names, len(names))
        z = client.zone(zone)
        expect(z["Domain"] == zone and isinstance(z["Id"], int), z)
        expect({r["Name"] for r in z["Records"]} == {"_acme-challenge", "www"}, z["Records"])
        sub = client.zone(f"sub.{zone}")
        expect(sub["Id"] != z["Id"] and sub["Records"] == [], sub)

    def add_delete():
        r = client.record_create(zone, {"Type": "TXT", "Name": "_acme-challenge", "Value": "octo-1", "Ttl": 60})
        expect(r.status_code == 201, r.status_code)
        rec = r.json()
        expect(rec["Type"] == 3 and rec["Name"] == "_acme-challenge" and rec["Ttl"] == 60, rec)
        state["id"] = rec["Id"]
        recs = client.zone_records(zone)
        txt = sorted(x["Value"] for x in recs if x["Type"] == "TXT")
        expect(txt == ["foreign", "octo-1"], recs)
        apex = client.record_create(zone, {"Type": "TXT", "Name": "", "Value": "apex", "Ttl": 300}).json()
        expect(apex["Name"] == "", apex)
        expect(client.record_delete(zone, state["id"]).status_code == 204, "delete")
        expect(client.record_delete(zone, apex["Id"]).status_code == 204, "delete apex")
        expect_raises(BunnyClientNotFound, lambda: client.record_delete(zone, state["id"]))

    def refusals():
        expect_raises(BunnyClientUnauthorized, lambda: BunnyClient("wrong-key").zones())
        expect_raises(BunnyClientNotFound, lambda: client.zone("nowhere.test"))
        expect_raises(BunnyClientNotFound, lambda: client._request("GET", "/dnszone/1"))

    def populate():
        p = BunnyProvider("bunny", key)
        z = Zone(f"{zone}.", [])
        expect(p.populate(z) is True, "zone exists")
        got = {(r.name, r._type): r for r in z.records}
        expect(got[("_acme-challenge", "TXT")].values == ["foreign"], got)
        expect(got[("www", "A")].values == ["192.0.2.1"] and got[("www", "A")].ttl == 300, got)

    for n, f in [
        ("octodns-bunny zone pages, sub-zone, zone with records", zones),
        ("octodns-bunny add (PUT 201), delete (204), 404 after", add_delete),
        ("octodns-bunny 401 unknown key, 404 unknown zone", refusals),
        ("octodns BunnyProvider.populate", populate),
    ]:
        check(n, f)


if __name__ == "__main__":
    bunny_checks()
    finish()
