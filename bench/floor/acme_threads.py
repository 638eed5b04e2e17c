#!/usr/bin/env python3
"""ACME floor for the benchmark: the `acme` library alone issues N certificates in threads.

    acme_threads.py --rig-base /tmp/certfleet/rig --hosts N [--workers W] [--account-key PEM]
    acme_threads.py --rig-base /tmp/certfleet/rig --register-only --account-key PEM

--register-only creates the account of PEM on Pebble and exits (bench/runner.py gives every measured issuance
of ours a new account, registered beforehand: see Bench.fresh_account).

No Ansible, no SSH, no deployment: the HTTP-01 files are written straight into the hosts' webroot
directories (the rig's hosts share this filesystem) and the certificates are only downloaded. It is the
lower bound of what any Ansible-driven issuance on the rig can cost in ACME time and requests.

Requests are kept at the protocol minimum: one directory GET, one nonce HEAD (every response carries
the next nonce: the threads share one ClientNetwork, its POSTs serialised by a lock), one account
lookup (the rig's account key, newAccount with onlyReturnExisting), then per certificate newOrder,
authz, challenge, order poll(s) at 50 ms, finalize, order poll(s) while "processing", certificate.
Prints one JSON line: wall time, per-issuance times, certificates issued.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import threading
import time

import josepy as jose
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DIRECTORY_URL = "https://127.0.0.1:14000/dir"
POLL = 0.05
TIMEOUT = 60.0


class LockedNetwork(client.ClientNetwork):
    """One nonce pool for all threads: serialise the signed POSTs (Pebble answers in about 1 ms)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()

    def post(self, *args, **kwargs):
        with self._lock:
            return super().post(*args, **kwargs)


def new_key_pem():
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def order_body(acme, uri):
    return messages.Order.from_json(acme._post_as_get(uri).json())


def issue(acme, jwk, domain, webroot):
    t0 = time.monotonic()
    csr = crypto_util.make_csr(new_key_pem(), [domain])
    order = acme.new_order(csr)  # newOrder + one POST-as-GET per authorization
    written = []
    for authz in order.authorizations:
        if authz.body.status == messages.STATUS_VALID:
            continue
        chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = chall.response_and_validation(jwk)
        d = os.path.join(webroot, ".well-known", "acme-challenge")
        os.makedirs(d, mode=0o755, exist_ok=True)
        path = os.path.join(d, chall.chall.encode("token"))
        with open(path, "w") as f:
            f.write(validation)
        os.chmod(path, 0o644)
        written.append(path)
        acme.answer_challenge(chall, response)
    deadline = time.monotonic() + TIMEOUT
    body = order.body
    while body.status not in (messages.STATUS_READY, messages.STATUS_VALID):
        if body.status == messages.STATUS_INVALID or time.monotonic() > deadline:
            raise RuntimeError("%s: order %s is %s" % (domain, order.uri, body.status))
        time.sleep(POLL)
        body = order_body(acme, order.uri)
    order = acme.begin_finalization(order.update(body=body))
    body = order.body
    while body.status != messages.STATUS_VALID:
        if body.status == messages.STATUS_INVALID or time.monotonic() > deadline:
            raise RuntimeError("%s: order %s is %s after finalize" % (domain, order.uri, body.status))
        time.sleep(POLL)
        body = order_body(acme, order.uri)
    fullchain = acme._post_as_get(body.certificate).text
    for path in written:
        os.unlink(path)
    if "BEGIN CERTIFICATE" not in fullchain:
        raise RuntimeError("%s: no certificate downloaded" % domain)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rig-base", default=os.environ.get("CERTFLEET_RIG", "/tmp/certfleet/rig"))
    ap.add_argument("--hosts", type=int, default=0)
    ap.add_argument("--account-key", help="account key PEM (default: the rig's account.key)")
    ap.add_argument("--register-only", action="store_true", help="create the account and exit")
    ap.add_argument("--workers", type=int, default=0, help="threads (default: one per host, at most 20)")
    a = ap.parse_args()
    base = a.rig_base
    if not a.register_only and a.hosts < 1:
        ap.error("--hosts N (N >= 1) is required unless --register-only")
    t0 = time.monotonic()
    with open(a.account_key or os.path.join(base, "account.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    jwk = jose.JWKEC(key=key)
    net = LockedNetwork(jwk, alg=jose.ES256, user_agent="certfleet-bench-floor",
                        verify_ssl=os.path.join(base, "pebble", "ca.pem"))
    acme = client.ClientV2(client.ClientV2.get_directory(DIRECTORY_URL, net), net=net)
    try:
        regr = acme.new_account(messages.NewRegistration.from_data(
            terms_of_service_agreed=True, only_return_existing=False))
    except errors.ConflictError as e:  # the account exists (Pebble answers 200 + Location)
        regr = messages.RegistrationResource(uri=e.location, body=messages.Registration())
    net.account = regr
    if a.register_only:
        print(json.dumps({"account": regr.uri}))
        return 0
    workers = a.workers or min(a.hosts, 20)
    jobs = [("host%d.test" % i, os.path.join(base, "hosts", "host%d" % i, "webroot")) for i in range(1, a.hosts + 1)]
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        per = list(ex.map(lambda j: issue(acme, jwk, j[0], j[1]), jobs))
    print(json.dumps({"issued": len(per), "workers": workers, "wall": round(time.monotonic() - t0, 3),
                      "per_issuance_mean": round(statistics.mean(per), 3),
                      "per_issuance_max": round(max(per), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
