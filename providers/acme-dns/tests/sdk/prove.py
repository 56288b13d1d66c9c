"""Drive the acme-dns fake (providers/acme-dns/tests/fake) with `pyacmedns`, the client library
of certbot-dns-acmedns and acme-dns-certbot, and fail on any difference from what that client
expects: 201 registrations with the server's fields, 200 updates of 43-character values, 401
for a wrong key, another registration's subdomain or an address outside `allowfrom`, 400
`bad_txt` and `invalid_allowfrom_cidr`. Its `Storage` then writes the registration file
certbot-dns-acmedns keeps (domain -> registration), which the Rust test reads with the
provider. Run by this provider's `sdk` test through the kit's `prove_with_sdk`.
"""

import os
import re

from proof import check, expect, expect_raises, finish

from pyacmedns import Client, Storage
from pyacmedns.exceptions import AcmeDnsClientException

BASE = os.environ["AD_BASE_URL"]
DOMAIN = os.environ["AD_DOMAIN"]
STORAGE = os.environ["AD_STORAGE"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
client = Client(BASE)
VALUES = ["A" * 42 + str(i) for i in range(3)]
accounts = {}


def register():
    acct = client.register_account(None)
    expect(UUID.match(acct["username"]) and UUID.match(acct["subdomain"]), acct)
    expect(len(acct["password"]) == 40, "40-character password")
    expect(acct["fulldomain"] == acct["subdomain"] + "." + DOMAIN, acct["fulldomain"])
    expect(acct["allowfrom"] == [], acct["allowfrom"])
    limited = client.register_account(["10.0.0.0/8", "2001:db8::/32"])
    expect(limited["allowfrom"] == ["10.0.0.0/8", "2001:db8::/32"], limited)
    local = client.register_account(["127.0.0.0/8"])
    accounts.update(main=acct, limited=limited, local=local)


def update():
    for v in VALUES:
        client.update_txt_record(accounts["main"], v)
    client.update_txt_record(accounts["local"], VALUES[0])


def refusals():
    acct = dict(accounts["main"])
    expect_raises(AcmeDnsClientException, lambda: client.update_txt_record(dict(acct, password="x" * 40), VALUES[0]), "forbidden")
    expect_raises(AcmeDnsClientException, lambda: client.update_txt_record(dict(acct, username=accounts["local"]["username"]), VALUES[0]), "401")
    other = dict(acct, subdomain=accounts["local"]["subdomain"])
    expect_raises(AcmeDnsClientException, lambda: client.update_txt_record(other, VALUES[0]), "forbidden")
    expect_raises(AcmeDnsClientException, lambda: client.update_txt_record(accounts["limited"], VALUES[0]), "401")
    expect_raises(AcmeDnsClientException, lambda: client.update_txt_record(acct, "too-short"), "bad_txt")
    expect_raises(AcmeDnsClientException, lambda: client.register_account(["10.0.0.0/33"]), "invalid_allowfrom_cidr")


def storage():
    st = Storage(STORAGE)
    st.put("*.example.test", accounts["main"])
    st.put("local.example.test", accounts["local"])
    st.save()
    again = Storage(STORAGE)
    expect(again.fetch("example.test") == accounts["main"], "the wildcard is kept under its apex")


check("register (201, fields, allowfrom)", register)
check("update (200, three values)", update)
check("401 and 400 refusals", refusals)
check("certbot-dns-acmedns registration file", storage)
finish()
