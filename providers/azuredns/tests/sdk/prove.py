"""Drive the Azure fake (providers/azuredns/tests/fake) with Azure's own Python clients and fail
on any difference from what they expect: azure-identity's ClientSecretCredential,
CertificateCredential and WorkloadIdentityCredential (MSAL: OpenID discovery, then the token
endpoint) with `authority` at the fake, its ManagedIdentityCredential (IMDS through
AZURE_POD_IDENTITY_AUTHORITY_HOST, App Service through IDENTITY_ENDPOINT / IDENTITY_HEADER), and
azure-mgmt-dns' DnsManagementClient with `base_url` at the fake: zones listed over pages
(`nextLink`), TXT record sets get / create_or_update / delete with ETags (If-Match,
If-None-Match, 412), list_by_type over pages, 404, 401 and 403. Run by this provider's `sdk` test
through the kit's `prove_with_sdk`; the fake's address and credentials come in the environment.

azure-core refuses bearer tokens over plain http and MSAL refuses an http authority, so the script
puts a TLS front on loopback before the fake (a certificate made here with `cryptography`, which
MSAL already depends on, trusted through `connection_verify` / REQUESTS_CA_BUNDLE); the front adds
`X-Forwarded-Proto: https` so the fake's `nextLink` and discovery URLs point back at it.
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

FAKE = urlparse(os.environ["AZ_FAKE_URL"])
TENANT, CLIENT, SECRET = os.environ["AZ_TENANT"], os.environ["AZ_CLIENT"], os.environ["AZ_SECRET"]
SUB, RG, ZONE = os.environ["AZ_SUB"], os.environ["AZ_RG"], os.environ["AZ_ZONE"]
SCOPE = "https://management.azure.com/.default"


def tls_front():
    """An https relay on 127.0.0.1 in front of the fake; its URL and CA file."""
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
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    d = tempfile.mkdtemp()
    crt, pem = os.path.join(d, "ca.pem"), os.path.join(d, "key.pem")
    open(crt, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(pem, "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))

    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def relay(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
            headers["X-Forwarded-Proto"] = "https"
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

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = relay

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, pem)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"https://127.0.0.1:{server.server_address[1]}", crt


def azure_checks():
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
    from azure.identity import (CertificateCredential, ClientSecretCredential, ManagedIdentityCredential,
                                WorkloadIdentityCredential)
    from azure.mgmt.dns import DnsManagementClient
    from azure.mgmt.dns.models import RecordSet, TxtRecord

    base, ca = tls_front()
    os.environ["REQUESTS_CA_BUNDLE"] = ca
    common = dict(authority=base, disable_instance_discovery=True, connection_verify=ca)
    cred = ClientSecretCredential(TENANT, CLIENT, SECRET, **common)

    def client(credential):
        return DnsManagementClient(credential, SUB, base_url=base, credential_scopes=[SCOPE],
                                   connection_verify=ca, retry_total=0)

    dns = client(cred)
    state = {}

    def sign_in():
        t = cred.get_token(SCOPE)
        expect(t.token and t.expires_on > 0, t)
        bad = ClientSecretCredential(TENANT, CLIENT, "wrong", **common)
        expect_raises(ClientAuthenticationError, lambda: bad.get_token(SCOPE), "AADSTS7000215")
        nobody = ClientSecretCredential("no-such-tenant", CLIENT, SECRET, **common)
        expect_raises(ClientAuthenticationError, lambda: nobody.get_token(SCOPE))

    def other_credentials():
        cert = CertificateCredential(TENANT, "certified", os.environ["AZ_CERT_PEM"], **common)
        expect(cert.get_token(SCOPE).token, "certificate: PS256 assertion with x5t#S256")
        wli = WorkloadIdentityCredential(tenant_id=TENANT, client_id="workload",
                                         token_file_path=os.environ["AZ_FEDERATED_FILE"], **common)
        expect(wli.get_token(SCOPE).token, "workload identity")
        os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = os.environ["AZ_FAKE_URL"]
        expect(ManagedIdentityCredential().get_token(SCOPE).token, "IMDS")
        del os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
        os.environ["IDENTITY_ENDPOINT"] = os.environ["AZ_FAKE_URL"] + "/msi/token"
        os.environ["IDENTITY_HEADER"] = os.environ["AZ_IDENTITY_HEADER"]
        t = ManagedIdentityCredential().get_token(SCOPE)
        expect(t.token and t.expires_on > 0, "App Service")
        del os.environ["IDENTITY_ENDPOINT"], os.environ["IDENTITY_HEADER"]

    def zones():
        names = [z.name for z in dns.zones.list(top=2)]
        expect(len(names) == 6 and ZONE in names, names)
        z = [z for z in dns.zones.list_by_resource_group(RG, top=4) if z.name == ZONE][0]
        expect(z.id.split("/")[4] == RG and z.type.lower() == "microsoft.network/dnszones", z.id)

    def create_get():
        rs = RecordSet(ttl=60, txt_records=[TxtRecord(value=["sdk-1"])])
        made = dns.record_sets.create_or_update(RG, ZONE, "_acme-challenge", "TXT", rs, if_none_match="*")
        expect(made.etag and made.ttl == 60 and made.txt_records[0].value == ["sdk-1"], made)
        expect(made.fqdn == f"_acme-challenge.{ZONE}.", made.fqdn)
        e = expect_raises(HttpResponseError, lambda: dns.record_sets.create_or_update(
            RG, ZONE, "_acme-challenge", "TXT", rs, if_none_match="*"))
        expect(e.status_code == 412, e.status_code)
        got = dns.record_sets.get(RG, ZONE, "_acme-challenge", "TXT")
        expect(got.etag == made.etag and got.name == "_acme-challenge", (got.etag, made.etag))
        state["etag"] = got.etag

    def update_with_etags():
        two = RecordSet(ttl=60, txt_records=[TxtRecord(value=["sdk-1"]), TxtRecord(value=["sdk-2"])],
                        metadata={"owner": "proof"})
        r = dns.record_sets.create_or_update(RG, ZONE, "_acme-challenge", "TXT", two, if_match=state["etag"])
        expect(r.etag != state["etag"] and sorted(t.value[0] for t in r.txt_records) == ["sdk-1", "sdk-2"], r)
        expect(r.metadata == {"owner": "proof"}, r.metadata)
        e = expect_raises(HttpResponseError, lambda: dns.record_sets.create_or_update(
            RG, ZONE, "_acme-challenge", "TXT", two, if_match=state["etag"]))
        expect(e.status_code == 412, "stale etag refused")
        state["etag"] = r.etag

    def list_pages():
        names = [r.name for r in dns.record_sets.list_by_type(RG, ZONE, "TXT", top=3)]
        expect(len([n for n in names if n.startswith("many")]) == 7 and "_acme-challenge" in names, names)

    def delete():
        e = expect_raises(HttpResponseError, lambda: dns.record_sets.delete(
            RG, ZONE, "_acme-challenge", "TXT", if_match="00000000-0000-0000-0000-000000000000"))
        expect(e.status_code == 412, e.status_code)
        dns.record_sets.delete(RG, ZONE, "_acme-challenge", "TXT", if_match=state["etag"])
        expect_raises(ResourceNotFoundError, lambda: dns.record_sets.get(RG, ZONE, "_acme-challenge", "TXT"),
                      "does not exist")
        dns.record_sets.delete(RG, ZONE, "_acme-challenge", "TXT")
        expect_raises(ResourceNotFoundError, lambda: dns.record_sets.get(RG, "nowhere.test", "x", "TXT"))

    def auth():
        class Bogus:
            def get_token(self, *scopes, **kw):
                return AccessToken("bogus", 4102444800)
        expect_raises(ClientAuthenticationError, lambda: list(client(Bogus()).zones.list()), "InvalidAuthenticationToken")
        ro = client(ClientSecretCredential(TENANT, "reader", "reader-secret", **common))
        expect(ZONE in [z.name for z in ro.zones.list()], "a Reader lists zones")
        e = expect_raises(HttpResponseError, lambda: ro.record_sets.create_or_update(
            RG, ZONE, "x", "TXT", RecordSet(ttl=60, txt_records=[TxtRecord(value=["y"])])), "AuthorizationFailed")
        expect(e.status_code == 403, e.status_code)

    for n, f in [
        ("azure-identity client secret, AADSTS errors", sign_in),
        ("azure-identity certificate, workload, IMDS, App Service", other_credentials),
        ("azure-mgmt-dns zones over pages", zones),
        ("azure-mgmt-dns create (If-None-Match) / get", create_get),
        ("azure-mgmt-dns update with If-Match, stale etag 412", update_with_etags),
        ("azure-mgmt-dns list_by_type over pages", list_pages),
        ("azure-mgmt-dns delete with If-Match, 404 after", delete),
        ("azure-mgmt-dns 401 / 403", auth),
    ]:
        check(n, f)


if __name__ == "__main__":
    azure_checks()
    finish()
