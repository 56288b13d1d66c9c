"""Drive the Hetzner Cloud API fake (providers/hetzner/tests/fake) with the official `hcloud`
Python SDK and fail on any difference from what that client expects: zones by name and id,
paged RRset listing, add_records / remove_records / set_records actions polled to the end, a
failing action, 401, a read-only token, a secondary zone, and a missing RRset. Run by this
provider's `sdk` test through the kit's `prove_with_sdk`; the fake's address and tokens come in
the environment.
"""

import os

from proof import check, expect, expect_raises, finish  # noqa: F401


def hcloud_checks():
    from hcloud import APIException, Client
    from hcloud.actions import ActionFailedException
    from hcloud.zones import ZoneRecord, ZoneRRSet

    base = os.environ["HZ_BASE_URL"]
    zone_name = os.environ["HZ_ZONE"]
    zone_id = int(os.environ["HZ_ZONE_ID"])
    client = Client(token=os.environ["HZ_TOKEN"], api_endpoint=base, poll_interval=0.05)
    zone = client.zones.get(zone_name)
    rrset = ZoneRRSet(name="_acme-challenge", type="TXT", zone=zone)

    def zones():
        expect(zone.id == zone_id and zone.name == zone_name and zone.mode == "primary", zone.data_model)
        expect(client.zones.get(zone_id).name == zone_name, "zones.get(id)")
        names = sorted(z.name for z in client.zones.get_all())
        expect(names == ["example.test", "other.test", "secondary.test"], names)
        found = client.zones.get_list(name=zone_name).zones
        expect([z.id for z in found] == [zone_id], f"get_list(name=): {found}")
        expect(zone.authoritative_nameservers.assigned, "assigned nameservers")

    def paging():
        page = client.zones.get_rrset_list(zone, type=["TXT"], per_page=50)
        expect(len(page.rrsets) == 50 and page.meta.pagination.next_page == 2, page.meta.pagination)
        every = client.zones.get_rrset_all(zone, type=["TXT"])
        expect(len(every) == 60 and len({r.name for r in every}) == 60, f"{len(every)} rrsets")
        one = client.zones.get_rrset_all(zone, name="seed7", type=["TXT"])
        expect([r.records[0].value for r in one] == ['"s7"'], one)

    def add_and_remove():
        a = client.zones.add_rrset_records(rrset, records=[ZoneRecord(value='"sdk-1"')], ttl=60)
        expect(a.status == "running" and a.command == "add_rrset_records", a.data_model)
        a.wait_until_finished()
        expect(a.status == "success", a.status)
        client.zones.add_rrset_records(rrset, records=[ZoneRecord(value='"sdk-2"')]).wait_until_finished()
        got = client.zones.get_rrset(zone, "_acme-challenge", "TXT")
        expect(sorted(r.value for r in got.records) == ['"sdk-1"', '"sdk-2"'] and got.ttl == 60, got.data_model)
        expect(got.id == "_acme-challenge/TXT" and got.zone.id == zone_id, got.id)
        client.zones.remove_rrset_records(rrset, records=[ZoneRecord(value='"sdk-1"')]).wait_until_finished()
        got = client.zones.get_rrset(zone, "_acme-challenge", "TXT")
        expect([r.value for r in got.records] == ['"sdk-2"'], "remove keeps the other value")
        client.zones.remove_rrset_records(rrset, records=[ZoneRecord(value='"sdk-2"')]).wait_until_finished()
        e = expect_raises(APIException, lambda: client.zones.get_rrset(zone, "_acme-challenge", "TXT"))
        expect(e.code == "not_found", e.code)

    def set_records_overwrites():
        apex = ZoneRRSet(name="@", type="TXT", zone=zone)
        client.zones.add_rrset_records(apex, records=[ZoneRecord(value='"wildcard"'), ZoneRecord(value='"apex"')]).wait_until_finished()
        client.zones.set_rrset_records(apex, records=[ZoneRecord(value='"only"')]).wait_until_finished()
        got = client.zones.get_rrset(zone, "@", "TXT")
        expect([r.value for r in got.records] == ['"only"'], "set_records replaces every value")

    def failing_action():
        a = client.zones.add_rrset_records(rrset, records=[ZoneRecord(value='"action-fails"')])
        e = expect_raises(ActionFailedException, a.wait_until_finished)
        expect(e.action.error["code"] == "action_failed", e.action.error)

    def refusals():
        bad = Client(token="x" * 64, api_endpoint=base)
        e = expect_raises(APIException, lambda: bad.zones.get_all())
        expect(e.code == "unauthorized", e.code)
        ro = Client(token=os.environ["HZ_TOKEN_READ_ONLY"], api_endpoint=base)
        expect(ro.zones.get(zone_name).id == zone_id, "a read-only token reads")
        e = expect_raises(APIException, lambda: ro.zones.add_rrset_records(rrset, records=[ZoneRecord(value='"x"')]))
        expect(e.code == "token_readonly", e.code)
        sec = ZoneRRSet(name="_acme-challenge", type="TXT", zone=client.zones.get("secondary.test"))
        e = expect_raises(APIException, lambda: client.zones.add_rrset_records(sec, records=[ZoneRecord(value='"x"')]))
        expect(e.code == "incorrect_zone_mode", e.code)
        e = expect_raises(APIException, lambda: client.zones.add_rrset_records(rrset, records=[ZoneRecord(value="unquoted")]))
        expect(e.code == "invalid_input", e.code)
        e = expect_raises(APIException, lambda: client.zones.get("nowhere.test"))
        expect(e.code == "not_found", e.code)

    for n, f in [
        ("hcloud zones get/get_all/get_list", zones),
        ("hcloud rrsets paged", paging),
        ("hcloud add_records/remove_records, actions polled", add_and_remove),
        ("hcloud set_records overwrites (the trap)", set_records_overwrites),
        ("hcloud failing action", failing_action),
        ("hcloud 401, read-only token, secondary zone, invalid TXT, missing zone", refusals),
    ]:
        check(n, f)


if __name__ == "__main__":
    hcloud_checks()
    finish()
