"""Drive the Akamai Edge DNS fake (providers/edgedns/tests/fake) with Akamai's own client,
edgegrid-python (`akamai.edgegrid.EdgeGridAuth` on `requests`, the way Akamai's API docs,
httpie-edgegrid and most Python tools call the Edge DNS API), and fail on any difference from
what it expects:

- every request signed by EdgeGridAuth is accepted (GET, POST with its body hash, PUT, DELETE,
  query strings, a body beyond max_body), and credentials read by its `.edgerc` reader work;
- zone and record-set lists paged by 25 (`page`, `pageSize`, `showAll`, `metadata`);
- record sets: POST 201 (409 when it exists), GET (TXT quoted), PUT 200 replacing the whole
  set, DELETE 204, then 404 as an Akamai problem document;
- the gateway's refusals: a wrong secret (401 "The signature does not match"), an unknown
  client token, a stale timestamp (400 "Invalid timestamp"), a replayed nonce, and a
  READ-ONLY client writing (403).

Run by this provider's `sdk` test through the kit's `prove_with_sdk`; the fake's address and
credentials come in the environment.
"""

import os
import tempfile
import time

import requests
from akamai.edgegrid import EdgeGridAuth, edgegrid

from proof import check, expect, finish

BASE = os.environ["AKAMAI_BASE_URL"] + "/config-dns/v2"
ZONE = os.environ["AKAMAI_ZONE"]
CT, CS, AT = (os.environ[k] for k in ("AKAMAI_CLIENT_TOKEN", "AKAMAI_CLIENT_SECRET", "AKAMAI_ACCESS_TOKEN"))
RO = os.environ["AKAMAI_RO"].split("|")


def session(ct=CT, cs=CS, at=AT):
    s = requests.Session()
    s.auth = EdgeGridAuth(client_token=ct, client_secret=cs, access_token=at)
    return s


def rrset_url(name, rtype="TXT"):
    return f"{BASE}/zones/{ZONE}/names/{name}/types/{rtype}"


def zones_paged():
    s = session()
    first = s.get(f"{BASE}/zones").json()
    meta = first["metadata"]
    expect(meta["page"] == 1 and meta["pageSize"] == 25 and meta["totalElements"] == 31, meta)
    expect(len(first["zones"]) == 25 and first["zones"][0]["type"] == "PRIMARY", first["zones"][0])
    second = s.get(f"{BASE}/zones", params={"page": 2, "showAll": "false"}).json()
    expect(len(second["zones"]) == 6, len(second["zones"]))
    names = {z["zone"] for z in first["zones"] + second["zones"]}
    expect(len(names) == 31 and ZONE in names, sorted(names))
    every = s.get(f"{BASE}/zones", params={"showAll": "true", "accountSwitchKey": "1-ABC:1-DEF"}).json()
    expect(len(every["zones"]) == 31, "showAll, with an accountSwitchKey in the signed query")
    one = s.get(f"{BASE}/zones/{ZONE}").json()
    expect(one["zone"] == ZONE and one["type"] == "PRIMARY", one)


def record_sets():
    s = session()
    name = f"_acme-challenge.{ZONE}"
    r = s.get(rrset_url(name))
    expect(r.status_code == 404 and r.json()["type"].endswith("/authoritative-dns/notFound"), r.text)
    body = {"name": name, "type": "TXT", "ttl": 120, "rdata": ["one"]}
    r = s.post(rrset_url(name), json=body)
    expect(r.status_code == 201 and r.json()["rdata"] == ['"one"'], (r.status_code, r.text))
    r = s.post(rrset_url(name), json=body)
    expect(r.status_code == 409 and r.json()["status"] == 409, "POST on an existing set")
    body["rdata"] = ['"one"', "two"]
    r = s.put(rrset_url(name), json=body)
    expect(r.status_code == 200, r.text)
    got = s.get(rrset_url(name)).json()
    expect(sorted(got["rdata"]) == ['"one"', '"two"'] and got["ttl"] == 120 and got["name"] == name, got)
    r = s.put(rrset_url(name), json={"name": name, "type": "TXT", "ttl": 120, "rdata": ["only"]})
    expect(s.get(rrset_url(name)).json()["rdata"] == ['"only"'], "PUT replaces every value (the trap)")
    sets = s.get(f"{BASE}/zones/{ZONE}/recordsets").json()
    expect(sets["metadata"]["totalElements"] == 31 and len(sets["recordsets"]) == 25, sets["metadata"])
    rest = s.get(f"{BASE}/zones/{ZONE}/recordsets", params={"page": 2}).json()["recordsets"]
    expect(len(rest) == 6, len(rest))
    r = s.delete(rrset_url(name))
    expect(r.status_code == 204, r.status_code)
    r = s.delete(rrset_url(name))
    expect(r.status_code == 404, "DELETE of a set that is gone")
    r = s.put(rrset_url(name), json=body)
    expect(r.status_code == 404, "PUT of a set that does not exist")


def big_body_and_edgerc():
    s = session()
    name = f"big.{ZONE}"
    body = {"name": name, "type": "TXT", "ttl": 300, "rdata": ["x" * 250] * 600}
    r = s.post(rrset_url(name), json=body)  # > 131072 bytes: only the first max_body are hashed
    expect(r.status_code == 201, (r.status_code, r.text[:200]))
    expect(s.delete(rrset_url(name)).status_code == 204, "deleted")
    with tempfile.NamedTemporaryFile("w", suffix=".edgerc", delete=False) as f:
        f.write(f"[default]\nhost = x\nclient_token = a\nclient_secret = b\naccess_token = c\n\n")
        f.write(f"[dns]\nhost = {BASE.split('//')[1].split('/')[0]}\nclient-token = {CT}\n")
        f.write(f"client_secret = {CS}\naccess-token = {AT}\nmax-body = 131072\n")
    s = requests.Session()
    s.auth = EdgeGridAuth.from_edgerc(f.name, "dns")
    expect(s.get(f"{BASE}/zones").status_code == 200, "credentials from .edgerc [dns]")
    os.unlink(f.name)


def refusals():
    def denied(r, status, detail):
        doc = r.json()
        expect(r.status_code == status and doc["status"] == status and doc["detail"] == detail, (r.status_code, r.text))
        return doc

    doc = denied(session(cs="d3Jvbmctc2VjcmV0").get(f"{BASE}/zones"), 401, "The signature does not match")
    expect(doc["type"].endswith("/-/pep-authn/deny") and doc["title"] == "Not authorized", doc)
    denied(session(ct="akab-unknown").get(f"{BASE}/zones"), 401, "Invalid authorization client token")
    denied(session(at="akab-unknown").get(f"{BASE}/zones"), 401, "Invalid authorization access token")
    real = edgegrid.eg_timestamp
    edgegrid.eg_timestamp = lambda: time.strftime("%Y%m%dT%H:%M:%S+0000", time.gmtime(time.time() - 300))
    try:
        doc = denied(session().get(f"{BASE}/zones"), 400, "Invalid timestamp")
        expect(doc["type"].endswith("/-/pep-authn/request-error"), doc)
    finally:
        edgegrid.eg_timestamp = real
    s = session()
    prepared = s.prepare_request(requests.Request("GET", f"{BASE}/zones"))
    expect(s.send(prepared).status_code == 200, "signed once")
    denied(s.send(prepared), 401, "Invalid nonce")
    body = {"name": f"tamper.{ZONE}", "type": "TXT", "ttl": 300, "rdata": ["signed"]}
    prepared = s.prepare_request(requests.Request("POST", rrset_url(f"tamper.{ZONE}"), json=body))
    prepared.body = prepared.body.replace(b"signed", b"forged")
    denied(s.send(prepared), 401, "The signature does not match")  # the POST body is hashed
    ro = session(*RO)
    expect(ro.get(f"{BASE}/zones").status_code == 200, "a READ-ONLY client reads")
    body = {"name": f"ro.{ZONE}", "type": "TXT", "ttl": 300, "rdata": ["x"]}
    doc = denied(ro.post(rrset_url(f"ro.{ZONE}"), json=body), 403, "The client does not have the grant needed for the request")
    expect(doc["type"].endswith("/-/pep-authz/deny"), doc)


if __name__ == "__main__":
    for n, f in [
        ("EdgeGridAuth: zones paged by 25, showAll, accountSwitchKey", zones_paged),
        ("EdgeGridAuth: record set POST / GET / PUT / DELETE, 409, 404, recordsets paged", record_sets),
        ("EdgeGridAuth: a POST body beyond max_body; EdgeGridAuth.from_edgerc", big_body_and_edgerc),
        ("gateway refusals: signature, tokens, timestamp, nonce replay, READ-ONLY grant", refusals),
    ]:
        check(n, f)
    finish()
