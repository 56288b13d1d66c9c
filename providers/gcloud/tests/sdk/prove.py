"""Drive the Cloud DNS fake (providers/gcloud/tests/fake) with Google's own Python clients,
google-cloud-dns over google-auth, and fail on any difference from what they expect: a
service-account key whose token_uri is the fake (the JWT bearer grant, signed by google-auth),
the GCE metadata server, impersonation through iamcredentials; zones listed and paged, a
private zone, RRsets paged, changes created and reloaded until done, the 409 (addition onto an
RRset) and 412 (stale deletion) traps, 401 and 403. Run by this provider's `sdk` test through
the kit's `prove_with_sdk`; the fake's address and keys come in the environment.
"""

import json
import os
import time

from proof import check, expect, expect_raises, finish

DNS_SCOPE = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
PROJECT = "wildcert-test"


def gcloud_checks():
    import google.auth.credentials
    import google.auth.transport.requests as transport
    from google.api_core import exceptions as gexc
    from google.auth import compute_engine, exceptions as auth_exc, impersonated_credentials
    from google.cloud import dns
    from google.oauth2 import service_account

    base = os.environ["GC_BASE_URL"]

    def key(var, scopes=(DNS_SCOPE,)):
        return service_account.Credentials.from_service_account_info(json.loads(os.environ[var]), scopes=list(scopes))

    def client(creds):
        return dns.Client(project=PROJECT, credentials=creds, client_options={"api_endpoint": base})

    creds = key("GC_KEY")
    c = client(creds)
    zone = c.zone("example-test", "example.test.")

    def token_grant():
        creds.refresh(transport.Request())
        expect(creds.token.startswith("ya29.") and creds.valid, "a token from the key's token_uri")
        e = expect_raises(auth_exc.RefreshError, lambda: key("GC_UNKNOWN_KEY").refresh(transport.Request()))
        expect("invalid_grant" in str(e), e)

    def zones():
        found = [(z.name, z.dns_name, z._properties.get("visibility")) for z in c.list_zones()]
        expect(sorted(found) == [("example-test", "example.test.", "public"),
                                 ("example-test-private", "example.test.", "private"),
                                 ("other-test", "other.test.", "public")], found)
        first = c.list_zones(max_results=1)
        expect(len(list(first)) == 1 and first.next_page_token == "1", first.next_page_token)
        rest = [z.name for z in c.list_zones(page_token=first.next_page_token)]
        expect(len(rest) == 2, f"the next page: {rest}")
        expect(zone.exists() and zone.reload() is None and zone.name_servers, "zone get")
        expect(not c.zone("nowhere-test").exists(), "a missing zone is 404")

    def rrsets():
        every = list(zone.list_resource_record_sets())
        expect(len(every) == 150 and every[0].record_type == "TXT" and every[0].ttl == 300, len(every))
        pages = list(zone.list_resource_record_sets().pages)
        expect(len(pages) == 2, f"{len(pages)} pages (100 a page by default)")
        expect(every[7].rrdatas == ['"s7"'] and every[7].name == "seed7.example.test.", every[7].name)

    def changes():
        name = "_acme-challenge.example.test."
        ch = zone.changes()
        ch.add_record_set(zone.resource_record_set(name, "TXT", 60, ['"sdk-1"']))
        ch.create()
        expect(ch.status == "pending" and ch.name, ch._properties)
        for _ in range(100):
            time.sleep(0.05)
            ch.reload()
            if ch.status == "done":
                break
        expect(ch.status == "done", ch.status)
        got = [r for r in zone.list_resource_record_sets() if r.name == name]
        expect(len(got) == 1 and got[0].rrdatas == ['"sdk-1"'] and got[0].ttl == 60, got)
        # The trap: an addition onto an existing RRset is refused.
        add = zone.changes()
        add.add_record_set(zone.resource_record_set(name, "TXT", 60, ['"sdk-2"']))
        e = expect_raises(gexc.Conflict, add.create)
        expect(e.errors[0]["reason"] == "alreadyExists", e.errors)
        # The other trap: a deletion with another TTL is refused.
        stale = zone.changes()
        stale.delete_record_set(zone.resource_record_set(name, "TXT", 300, ['"sdk-1"']))
        e = expect_raises(gexc.PreconditionFailed, stale.create)
        expect(e.errors[0]["reason"] == "conditionNotMet", e.errors)
        # Delete as stored + add the merged set, in one change.
        both = zone.changes()
        both.delete_record_set(zone.resource_record_set(name, "TXT", 60, ['"sdk-1"']))
        both.add_record_set(zone.resource_record_set(name, "TXT", 60, ['"sdk-1"', '"sdk-2"']))
        both.create()
        got = [r for r in zone.list_resource_record_sets() if r.name == name]
        expect(sorted(got[0].rrdatas) == ['"sdk-1"', '"sdk-2"'], got[0].rrdatas)
        expect(zone.changes().name is None and both.exists(), "changes.get")
        gone = zone.changes()
        gone.delete_record_set(zone.resource_record_set(name, "TXT", 60, ['"sdk-2"', '"sdk-1"']))
        gone.create()
        expect(not [r for r in zone.list_resource_record_sets() if r.name == name], "RRset deleted")

    def refusals():
        reader = client(key("GC_READER_KEY"))
        rz = reader.zone("example-test", "example.test.")
        expect(len(list(rz.list_resource_record_sets(max_results=5).pages)) >= 1, "a reader reads")
        ch = rz.changes()
        ch.add_record_set(rz.resource_record_set("x.example.test.", "TXT", 60, ['"x"']))
        e = expect_raises(gexc.Forbidden, ch.create)
        expect(e.errors[0]["reason"] == "forbidden", e.errors)
        class Bearer(google.auth.credentials.Credentials):
            def __init__(self, token):
                super().__init__()
                self.token = token

            def refresh(self, request):
                pass

        e = expect_raises(gexc.Unauthorized, lambda: list(client(Bearer("ya29.not-issued")).list_zones()))
        expect(e.code == 401, e.code)

    def metadata_and_impersonation():
        gce = compute_engine.Credentials()
        gce.refresh(transport.Request())
        expect(gce.token.startswith("ya29.") and gce.service_account_email.startswith("ci@"), gce.service_account_email)
        from google.auth.compute_engine import _metadata
        expect(_metadata.get_project_id(transport.Request()) == PROJECT, "metadata project-id")
        e = expect_raises(gexc.Forbidden, lambda: list(client(gce).list_zones()))
        expect(e.code == 403, "the instance's account may not list zones")
        target = os.environ["GC_TARGET"]
        url = f"{base}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
        imp = impersonated_credentials.Credentials(
            source_credentials=gce, target_principal=target, target_scopes=[DNS_SCOPE], iam_endpoint_override=url)
        names = sorted(z.name for z in client(imp).list_zones())
        expect("example-test" in names, names)
        bad = impersonated_credentials.Credentials(
            source_credentials=creds, target_principal=target, target_scopes=[DNS_SCOPE], iam_endpoint_override=url)
        expect_raises(auth_exc.RefreshError, lambda: bad.refresh(transport.Request()))

    for n, f in [
        ("google-auth JWT bearer grant at the key's token_uri, unknown account refused", token_grant),
        ("google-cloud-dns managed zones listed, paged, got, private twin", zones),
        ("google-cloud-dns RRsets paged", rrsets),
        ("google-cloud-dns changes: create, reload to done, 409 alreadyExists, 412 conditionNotMet", changes),
        ("google-cloud-dns 403 for a reader's change, 401 for an unknown token", refusals),
        ("google-auth metadata server and impersonated credentials", metadata_and_impersonation),
    ]:
        check(n, f)


if __name__ == "__main__":
    gcloud_checks()
    finish()
