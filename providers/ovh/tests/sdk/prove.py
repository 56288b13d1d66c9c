"""Drive the OVH fake (providers/ovh/tests/fake) with OVH's official `ovh` Python client and
fail on any difference from what that client expects: the time delta from `/auth/time` (the
fake's clock is two hours behind), signed GET/POST/DELETE (bodies included in the signature),
zones, records with the `fieldType`/`subDomain` filters, TXT targets, refresh, 404, the 403
error codes its exceptions are keyed on, the signature and the clock refused, and OAuth2 client
credentials. Run by this provider's `sdk` test through the kit's `prove_with_sdk`; the fake's
address and keys come in the environment.
"""

import os
import time

from proof import check, expect, expect_raises, finish

E = os.environ


def ovh_checks():
    import ovh
    from ovh import exceptions as x

    # The client takes endpoint names only: register the fake under one.
    ovh.client.ENDPOINTS["fake"] = E["PROOF_BASE_URL"]
    ovh.client.OAUTH2_TOKEN_URLS["fake"] = E["PROOF_TOKEN_URL"]
    zone = E["PROOF_ZONE"]

    def client(ck=E["PROOF_CK"], secret=E["PROOF_AS"], key=E["PROOF_AK"]):
        return ovh.Client(endpoint="fake", application_key=key, application_secret=secret, consumer_key=ck)

    c = client()
    state = {}

    def time_delta():
        delta = c.time_delta
        expect(-7210 < delta < -7190, delta)
        expect(isinstance(c.get("/auth/time", _need_auth=False), int), "an integer")

    def zones():
        names = c.get("/domain/zone")
        expect(zone in names and "other.test" in names, names)
        expect_raises(x.ResourceNotFoundError, lambda: c.get("/domain/zone/nowhere.test/record"))

    def create_get():
        r = c.post(f"/domain/zone/{zone}/record", fieldType="TXT", subDomain="_acme-challenge", target="sdk-1", ttl=60)
        expect(isinstance(r["id"], int) and r["zone"] == zone and r["subDomain"] == "_acme-challenge", r)
        expect(r["fieldType"] == "TXT" and r["target"] == '"sdk-1"' and r["ttl"] == 60, r)
        state["id"] = r["id"]
        g = c.get(f"/domain/zone/{zone}/record/{r['id']}")
        expect(g == r, (g, r))
        apex = c.post(f"/domain/zone/{zone}/record", fieldType="TXT", subDomain="", target="apex")
        expect(apex["subDomain"] == "" and apex["ttl"] == 0, apex)
        e = expect_raises(x.BadParametersError, lambda: c.post(f"/domain/zone/{zone}/record", fieldType="BOGUS", target="x"))
        expect("fieldType" in str(e), str(e))

    def filters():
        ids = c.get(f"/domain/zone/{zone}/record", fieldType="TXT", subDomain="_acme-challenge")
        expect(ids == [state["id"]], ids)
        many = c.get(f"/domain/zone/{zone}/record", fieldType="TXT", subDomain="many")
        expect(len(many) == 45, "every id at once, no pages")
        expect(c.get(f"/domain/zone/{zone}/record", fieldType="A", subDomain="many") == [], "type filter")

    def refresh_delete():
        expect(c.post(f"/domain/zone/{zone}/refresh") is None, "refresh answers null")
        expect(c.delete(f"/domain/zone/{zone}/record/{state['id']}") is None, "delete answers null")
        expect_raises(x.ResourceNotFoundError, lambda: c.get(f"/domain/zone/{zone}/record/{state['id']}"))
        expect_raises(x.ResourceNotFoundError, lambda: c.delete(f"/domain/zone/{zone}/record/{state['id']}"))

    def auth_errors():
        expect_raises(x.InvalidKey, lambda: client(key="UnknownAppKey001").get("/domain/zone"))
        expect_raises(x.NotCredential, lambda: client(ck="UnknownConsumerKey00000000000001").get("/domain/zone"))
        expect_raises(x.BadParametersError, lambda: client(secret="wrong").get("/domain/zone"), "Invalid signature")
        ro = client(ck=E["PROOF_CK_READ_ONLY"])
        expect(zone in ro.get("/domain/zone"), "a read-only key lists")
        expect_raises(x.NotGrantedCall, lambda: ro.post(f"/domain/zone/{zone}/refresh"))

    def skewed_clock():
        skewed = client()
        skewed._time_delta = 0  # as if /auth/time were never asked: the local clock is 2 h ahead
        expect_raises(x.BadParametersError, lambda: skewed.get("/domain/zone"), "Query out of time")

    def oauth2():
        o = ovh.Client(endpoint="fake", client_id=E["PROOF_CLIENT_ID"], client_secret=E["PROOF_CLIENT_SECRET"])
        expect(zone in o.get("/domain/zone"), "bearer token from client credentials")
        r = o.post(f"/domain/zone/{zone}/record", fieldType="TXT", subDomain="oauth", target="v")
        expect(o.delete(f"/domain/zone/{zone}/record/{r['id']}") is None, "delete")
        bad = ovh.Client(endpoint="fake", client_id=E["PROOF_CLIENT_ID"], client_secret="wrong")
        expect_raises(x.OAuth2FailureError, lambda: bad.get("/domain/zone"))

    for n, f in [
        ("ovh /auth/time and the time delta", time_delta),
        ("ovh zones list/get/404", zones),
        ("ovh records create/get (TXT quoted, apex, bad type)", create_get),
        ("ovh records fieldType/subDomain filters", filters),
        ("ovh refresh, delete, 404 after", refresh_delete),
        ("ovh InvalidKey / NotCredential / Invalid signature / NotGrantedCall", auth_errors),
        ("ovh skewed clock refused", skewed_clock),
        ("ovh OAuth2 client credentials", oauth2),
    ]:
        check(n, f)


if __name__ == "__main__":
    ovh_checks()
    finish()
