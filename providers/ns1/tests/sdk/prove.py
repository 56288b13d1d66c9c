"""Drive the NS1 API fake (providers/ns1/tests/fake) with NS1's official Python client,
ns1-python, and fail on any difference from what that client expects: 429 with the
`X-RateLimit-*` headers (RateLimitException), zones listed and a zone's records read across
`Link: rel="next"` pages (`follow_pagination`), a TXT record created (`PUT`), the second create
refused with `record already exists` (the trap), its answers updated (`POST`) through the REST and
the high-level Record API, deleted, 404 `record not found` / `zone not found`, 401 for an unknown
key (AuthException) and 403 for a key with View zones only. Run by this provider's `sdk` test
through the kit's `prove_with_sdk`; the fake's address and keys come in the environment.

ns1-python only speaks https (`https://{endpoint}:{port}`) and rewrites the pages' links to
https, so the script puts a TLS front on loopback before the fake (a certificate made here with
`cryptography`), with `ignore-ssl-errors`; the front keeps the `Host` header, so the fake's links
point back at it.
"""

import datetime
import http.client
import ipaddress
import os
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

from proof import check, expect, expect_raises, finish

FAKE = urlparse(os.environ["NS1_FAKE_URL"])
KEY, VIEW_ONLY, ZONE = os.environ["NS1_KEY"], os.environ["NS1_KEY_VIEW_ONLY"], os.environ["NS1_ZONE"]
ZONES, RECORDS = int(os.environ["NS1_ZONE_COUNT"]), int(os.environ["NS1_RECORD_COUNT"])


def tls_front():
    """An https relay on 127.0.0.1 in front of the fake; its port."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    d = tempfile.mkdtemp()
    crt, pem = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    open(crt, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(pem, "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))

    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def relay(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            c = http.client.HTTPConnection(FAKE.hostname, FAKE.port, timeout=30)
            c.request(self.command, self.path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            c.close()

        do_GET = do_PUT = do_POST = do_DELETE = relay

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, pem)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def ns1_checks():
    from ns1 import NS1, Config
    from ns1.rest.errors import AuthException, RateLimitException, ResourceException

    port = tls_front()

    def client(key):
        config = Config()
        config.loadFromDict({"default_key": "default", "keys": {"default": {"key": key}},
                             "endpoint": "127.0.0.1", "port": str(port), "ignore-ssl-errors": True,
                             "follow_pagination": True})
        return NS1(config=config)

    api = client(KEY)
    name = f"_acme-challenge.{ZONE}"

    def rate_limited():
        # The test made the fake's first answer a 429.
        e = expect_raises(RateLimitException, lambda: api.zones().list())
        expect((e.by, e.limit, e.remaining, e.period) == ("customer", 300, 0, 300), repr(e))

    def zones_and_pages():
        zones = api.zones().list()
        names = [z["zone"] for z in zones]
        expect(len(zones) == ZONES and ZONE in names and names == sorted(names), names)
        zone = api.zones().retrieve(ZONE)
        expect(zone["zone"] == ZONE and zone["dns_servers"] and zone["networks"] == [0], zone)
        expect(len(zone["records"]) == RECORDS, f"{len(zone['records'])} records over the pages")
        short = api.zones().retrieve(ZONE, params={"records": "false"})
        expect(short["records"] == [], "records=false")
        hl = api.loadZone(ZONE)
        expect(hl.data["id"] == zone["id"] and len(hl.data["records"]) == RECORDS, hl.data["id"])

    def create_update_delete():
        rec = api.records()
        made = rec.create(ZONE, name, "TXT", answers=["sdk-1"], ttl=60)
        expect(made["domain"] == name and made["ttl"] == 60 and made["answers"][0]["answer"] == ["sdk-1"], made)
        e = expect_raises(ResourceException, lambda: rec.create(ZONE, name, "TXT", answers=["sdk-2"]))
        expect(e.response.status_code == 400 and "record already exists" in str(e), str(e))
        got = rec.retrieve(ZONE, name, "TXT")
        answers = got["answers"] + [{"answer": ["sdk-2"]}]
        upd = rec.update(ZONE, name, "TXT", answers=answers)
        expect([a["answer"] for a in upd["answers"]] == [["sdk-1"], ["sdk-2"]], upd)
        expect(upd["answers"][0]["id"] == got["answers"][0]["id"] and upd["id"] == got["id"], "ids kept")
        hl = api.loadZone(ZONE).loadRecord(name, "TXT")
        expect(len(hl.answers) == 2, hl.answers)
        hl.update(answers=["sdk-2"])
        expect([a["answer"] for a in hl.data["answers"]] == [["sdk-2"]], hl.data)
        hl.delete()
        e = expect_raises(ResourceException, lambda: rec.retrieve(ZONE, name, "TXT"))
        expect(e.response.status_code == 404 and "record not found" in str(e), str(e))
        e = expect_raises(ResourceException, lambda: rec.delete(ZONE, name, "TXT"))
        expect("record not found" in str(e), str(e))
        z = api.loadZone(ZONE)
        z.add_TXT(f"hl.{ZONE}", ["high-level"])
        expect(z.loadRecord(f"hl.{ZONE}", "TXT").answers[0]["answer"] == ["high-level"], "add_TXT")

    def refusals():
        e = expect_raises(AuthException, lambda: client("NotAKeyOfThisAccount").zones().list())
        expect(e.response.status_code == 401, e.response.status_code)
        view = client(VIEW_ONLY)
        expect(view.zones().retrieve(ZONE)["zone"] == ZONE, "a View zones key reads")
        e = expect_raises(ResourceException, lambda: view.records().create(ZONE, name, "TXT", answers=["x"]))
        expect(e.response.status_code == 403 and "insufficient permissions" in str(e), str(e))
        e = expect_raises(ResourceException, lambda: api.zones().retrieve("nowhere.test"))
        expect(e.response.status_code == 404 and "zone not found" in str(e), str(e))
        e = expect_raises(ResourceException, lambda: api.records().create("nowhere.test", "a.nowhere.test", "TXT", answers=["x"]))
        expect("zone not found" in str(e), str(e))

    for n, f in [
        ("ns1 429 with X-RateLimit-* (RateLimitException)", rate_limited),
        ("ns1 zones list and zone records over Link pages", zones_and_pages),
        ("ns1 TXT create, second create refused, answers updated, deleted", create_update_delete),
        ("ns1 401, 403 View-only key, zone not found", refusals),
    ]:
        check(n, f)


if __name__ == "__main__":
    ns1_checks()
    finish()
