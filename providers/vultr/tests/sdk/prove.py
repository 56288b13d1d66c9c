"""Drive the Vultr fake (providers/vultr/tests/fake) with dns-lexicon's `vultr` provider and
fail on any difference from what that client expects. Vultr publishes no Python SDK; lexicon's
provider speaks the v2 API with `requests` (bearer key, cursor pagination through
`meta.links.next`, quoted TXT data). Its endpoint is the fixed attribute `api_endpoint`
(`https://api.vultr.com/v2`), set in `__init__`; each instance here gets the fake's address in
that attribute right after construction, nothing else of the client is changed.

Checked: the domain lookup across cursor pages, record lists across cursor pages, create
(quoted TXT, relative name, "" for the apex), no duplicate on re-create, update (PATCH),
delete by id and by content (404 tolerated), 401 for an unknown key, 401 naming the address
outside the key's access control, 403 for a user without the DNS permission. Run by this
provider's `sdk` test through the kit's `prove_with_sdk`; addresses and keys come in the
environment.
"""

import os

from proof import check, expect, expect_raises, finish


def vultr_checks():
    import requests
    from lexicon.config import ConfigResolver
    from lexicon.exceptions import AuthenticationError
    from lexicon._private.providers.vultr import Provider

    base = os.environ["VULTR_BASE_URL"]
    domain = os.environ["VULTR_DOMAIN"]
    fqdn = f"_acme-challenge.{domain}"

    def client(key, endpoint=base, dom=domain):
        config = ConfigResolver().with_dict(
            {"provider_name": "vultr", "domain": dom, "ttl": 120, "vultr": {"auth_token": key}}
        )
        p = Provider(config)
        p.api_endpoint = endpoint  # the one change: the fake instead of api.vultr.com/v2
        return p

    vultr = client(os.environ["VULTR_KEY"])
    state = {}

    def authenticate():
        # 8 domains at 5 a page: example.test is on the second page, reached by cursor.
        vultr.authenticate()
        expect(vultr.domain_id == domain, vultr.domain_id)
        first = vultr._get("/domains")
        expect(len(first["domains"]) == 5 and first["meta"]["total"] == 8, first["meta"])
        expect(first["meta"]["links"]["next"] and first["meta"]["links"]["prev"] == "", first["meta"])
        missing = client(os.environ["VULTR_KEY"], dom="nowhere.test")
        expect_raises(AuthenticationError, missing.authenticate, contains="Domain not found")

    def records_across_pages():
        many = vultr.list_records("TXT", f"many.{domain}")
        expect(sorted(r["content"] for r in many) == sorted(f"seed-{i}" for i in range(12)), many)
        expect(all(r["name"] == f"many.{domain}" and r["ttl"] == 60 for r in many), many)

    def create_list():
        expect(vultr.create_record("TXT", fqdn, "lexicon-1") is True, "create")
        got = vultr.list_records("TXT", fqdn)
        expect([r["content"] for r in got] == ["lexicon-1"], got)
        state["id"] = got[0]["id"]
        expect(len(state["id"]) == 36 and state["id"].count("-") == 4, state["id"])
        raw = vultr._get(f"/domains/{domain}/records/{state['id']}")["record"]
        expect(raw["data"] == '"lexicon-1"' and raw["name"] == "_acme-challenge", raw)
        expect(raw["ttl"] == 120 and raw["type"] == "TXT", raw)
        # Re-creating the same value is a no-op for lexicon (it lists first).
        vultr.create_record("TXT", fqdn, "lexicon-1")
        expect(len(vultr.list_records("TXT", fqdn)) == 1, "no duplicate")
        vultr.create_record("TXT", fqdn, "lexicon-2")
        expect(len(vultr.list_records("TXT", fqdn)) == 2, "second value beside the first")
        vultr.create_record("TXT", domain, "apex")
        # The raw records (every cursor page) show the apex's name as "".
        raw, q = [], {}
        for _ in range(10):
            page = vultr._get(f"/domains/{domain}/records", query_params=q)
            raw += page["records"]
            q = {"cursor": page["meta"]["links"]["next"]}
            if not q["cursor"]:
                break
        apex = [r for r in raw if r["data"] == '"apex"']
        expect(len(apex) == 1 and apex[0]["name"] == "", apex)

    def update():
        expect(vultr.update_record(state["id"], "TXT", fqdn, "lexicon-3") is True, "update")
        raw = vultr._get(f"/domains/{domain}/records/{state['id']}")["record"]
        expect(raw["data"] == '"lexicon-3"' and raw["ttl"] == 120, raw)

    def delete():
        expect(vultr.delete_record(state["id"]) is True, "delete by id")
        gone = expect_raises(requests.HTTPError, lambda: vultr._get(f"/domains/{domain}/records/{state['id']}"))
        expect(gone.response.status_code == 404 and gone.response.json()["status"] == 404, gone.response.text)
        expect(vultr.delete_record(state["id"]) is True, "404 on a second delete is tolerated")
        expect(vultr.delete_record(None, "TXT", fqdn, "lexicon-2") is True, "delete by content")
        expect(vultr.list_records("TXT", fqdn) == [], "both gone")

    def auth():
        bad = client("UNKNOWNKEY")
        e = expect_raises(requests.HTTPError, bad.authenticate)
        expect(e.response.status_code == 401, e.response.status_code)
        expect(e.response.json() == {"error": "Invalid API token.", "status": 401}, e.response.text)
        blocked = client(os.environ["VULTR_KEY"], endpoint=os.environ["VULTR_BLOCKED_URL"])
        e = expect_raises(requests.HTTPError, blocked.authenticate)
        expect(e.response.status_code == 401, e.response.status_code)
        expect(e.response.json()["error"] == "Unauthorized IP address: 203.0.113.7", e.response.text)
        no_dns = client(os.environ["VULTR_KEY_NO_DNS"])
        e = expect_raises(requests.HTTPError, no_dns.authenticate)
        expect(e.response.status_code == 403, e.response.status_code)

    for n, f in [
        ("lexicon authenticate: domains across cursor pages", authenticate),
        ("lexicon list_records across cursor pages", records_across_pages),
        ("lexicon create_record / list_records (quoted TXT, relative and apex names)", create_list),
        ("lexicon update_record (PATCH)", update),
        ("lexicon delete_record by id and by content", delete),
        ("lexicon 401 unknown key / 401 blocked address / 403", auth),
    ]:
        check(n, f)


if __name__ == "__main__":
    vultr_checks()
    finish()
