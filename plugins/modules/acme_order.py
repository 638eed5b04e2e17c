#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: acme_order
short_description: Place ACME orders and finalize them, for one certificate or a whole fleet in one call
version_added: 0.1.0
description:
  - Runs on the control node (C(delegate_to=localhost)) and speaks RFC 8555 through the C(acme) library.
    The web servers need no ACME software and no outbound access.
  - B(First call) (no C(order_url)), finds or creates the account of the account key, places an order for
    the CSR, and returns the pending challenges (identifier, token, key authorization, path) with the
    order URL. Authorizations that are already valid are skipped.
  - B(Second call) (with C(order_url)), tells the CA the challenges are served, polls with a short,
    backing-off interval, finalizes with the CSR and returns the certificate, the chain and the full chain.
  - O(orders) handles many certificates in one call, sharing one directory fetch, one account lookup and
    one nonce pool, with requests in parallel threads. That is what keeps a fleet's issuance cheap.
  - Transient failures (badNonce, connection errors, 5xx, 429 with C(Retry-After)) are retried within
    O(acme_timeout); every CA error is reported with its RFC 7807 problem type, detail and subproblems.
  - Check mode never contacts the CA; it checks the CSRs and reports what would be ordered.
  - C(changed) says whether the CA's state changed. Resuming a recorded order, or downloading the certificate
    of an order finalized earlier, is not a change; placing an order, answering a challenge or finalizing is.
author:
  - certfleet.tls developers (@certfleet)
options:
  name:
    description: Name of the certificate (single form). Defaults to the CSR's first name.
    type: str
  csr_path:
    description: CSR file on the control node (single form).
    type: path
  csr_content:
    description: CSR in PEM (single form).
    type: str
  private_key_path:
    description:
      - Private key (on the control node) to make the CSR from, for O(domains), when no CSR is given
        (single form).
    type: path
  private_key_content:
    description: Private key (PEM) to make the CSR from, for O(domains). Never logged.
    type: str
  domains:
    description:
      - Names the CSR must carry; the call fails, naming both lists, when the CSR differs.
      - With O(private_key_path) or O(private_key_content), the names the CSR is made for.
    type: list
    elements: str
  order_url:
    description: Order URL returned by the first call (single form); its presence selects the second step.
    type: str
  challenges:
    description:
      - Challenges returned by the first call. Passing them back saves re-fetching the order and its
        authorizations (two requests per name). Without them the order is re-read from the CA.
    type: list
    elements: dict
  replaces:
    description: ARI certificate identifier of the certificate this order replaces (RFC 9773 section 5).
    type: str
  orders:
    description:
      - List form, one item per certificate, with keys C(name), C(csr) (PEM), and optionally C(domains),
        C(order_url), C(challenges), C(replaces), C(resume_order_url). Items with C(order_url) are finalized,
        the others ordered.
      - C(resume_order_url) is the order of an earlier run that died (recorded on the host). It is resumed
        when still usable (same names, not invalid); otherwise its pending authorizations are deactivated and
        a new order is placed.
    type: list
    elements: dict
  challenge_type:
    description: Challenge type to answer.
    type: str
    choices: [http-01]
    default: http-01
  profile:
    description: ACME profile to ask for (for example V(shortlived) or V(tlsserver) at Let's Encrypt).
    type: str
  preferred_chain:
    description: Issuer common name of the root the chain should end at, chosen among alternate chains.
    type: str
  fail_on_order_error:
    description:
      - Fail the task when any order fails. With V(false), failures are listed in RV(failed_names) and each
        order's result carries C(failed) and C(msg), so that one host's failure does not stop the fleet.
    type: bool
    default: true
  acme_session:
    description:
      - RV(acme_session) of an earlier call in the same run (directory and unused nonces). The second step
        then sends neither a directory request nor a newNonce request. Nothing in it is secret.
    type: dict
  workers:
    description: Orders handled in parallel in the list form.
    type: int
    default: 8
extends_documentation_fragment:
  - certfleet.tls.acme
  - certfleet.tls.controller_module
attributes:
  check_mode:
    support: full
    description: Checks the CSRs and reports what would be ordered, never contacts the CA.
requirements:
  - acme >= 2.11 and cryptography on the control node
"""

EXAMPLES = r"""
- name: Order (first step)
  certfleet.tls.acme_order:
    acme_directory: letsencrypt_staging
    account_key_path: ~/.acme/account.key
    account_email: ops@example.org
    acme_terms_agreed: true
    csr_path: /srv/csr/www.example.org.csr
  delegate_to: localhost
  register: order

- name: Serve the challenges on the web server
  certfleet.tls.acme_challenge_file:
    webroot: /var/www/html
    challenges: "{{ order.challenges }}"

- name: Order for a key of the operator's (the CSR is made on the control node, the key never leaves)
  certfleet.tls.acme_order:
    acme_directory: letsencrypt
    account_key_content: "{{ vault_acme_account_key }}"
    private_key_path: /srv/keys/www.example.org.key
    domains: [www.example.org, example.org]
  delegate_to: localhost
  register: order_own_key

- name: Validate and finalize (second step)
  certfleet.tls.acme_order:
    acme_directory: letsencrypt_staging
    account_key_path: ~/.acme/account.key
    account_uri: "{{ order.account_uri }}"
    csr_path: /srv/csr/www.example.org.csr
    order_url: "{{ order.order_url }}"
    challenges: "{{ order.challenges }}"
  delegate_to: localhost
  register: issued
"""

RETURN = r"""
orders:
  description: One result per order, in input order (the single form also copies its result to the top level).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Certificate name.
      type: str
    order_url:
      description: Order URL.
      type: str
    challenges:
      description: Pending challenges (first step), each with identifier, type, token, key_authorization, path, url.
      type: list
    resumed:
      description: Whether the first step resumed an earlier order instead of placing a new one.
      type: bool
    changed:
      description: Whether this order changed anything at the CA.
      type: bool
    cert:
      description: Leaf certificate PEM (second step).
      type: str
    chain:
      description: Intermediate certificates PEM (second step).
      type: str
    fullchain:
      description: Leaf followed by the chain (second step).
      type: str
    facts:
      description: serial, issuer, subject, domains, not_before, not_after of the issued certificate.
      type: dict
    failed:
      description: Present and true when this order failed (with O(fail_on_order_error=false)).
      type: bool
    msg:
      description: Why this order failed.
      type: str
    problem:
      description: RFC 7807 problem (type, detail, status, subproblems) when the CA refused.
      type: dict
order_url:
  description: Order URL (single form).
  returned: single form
  type: str
challenges:
  description: Pending challenges (single form, first step).
  returned: single form, first step
  type: list
  elements: dict
cert:
  description: Leaf certificate (single form, second step).
  returned: single form, second step
  type: str
chain:
  description: Chain (single form, second step).
  returned: single form, second step
  type: str
fullchain:
  description: Full chain (single form, second step).
  returned: single form, second step
  type: str
account_uri:
  description: URL of the ACME account used; pass it to the second step to skip the account lookup.
  returned: unless check mode
  type: str
failed_names:
  description: Names of the orders that failed.
  returned: always
  type: list
  elements: str
acme_session:
  description: Directory and unused nonces, to pass to the next call of the same run as O(acme_session).
  returned: unless check mode
  type: dict
acme_requests:
  description: HTTP requests sent to the CA by this call (directory, nonce, account and order requests).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._acme import orders as acme_orders
    from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys as tls_keys
except ImportError:
    acme_orders = tls_keys = None


def csr_from_key(module):
    """A CSR for ``domains`` signed by the operator's key: the key stays where it is, only the CSR is used."""
    p = module.params
    key_pem = _glue.read_input(module, "private_key_path", "private_key_content")
    try:
        domains = tls_keys.normalize_domains(p["domains"], p["challenge_type"])
        return tls_keys.make_csr(tls_keys.load_private_key(key_pem, what="private key"), domains).decode()
    except _glue.CertfleetError as error:
        _glue.fail_from(module, error)


def build_items(module):
    p = module.params
    if p["orders"] is not None:
        items = []
        for index, item in enumerate(p["orders"]):
            if not item.get("csr"):
                module.fail_json(msg="orders[%d] (%s) has no csr" % (index, item.get("name")))
            items.append(dict(name=item.get("name") or "orders[%d]" % index, csr_pem=item["csr"],
                              domains=item.get("domains"), order_url=item.get("order_url"),
                              resume_order_url=item.get("resume_order_url"),
                              challenges=item.get("challenges"), replaces=item.get("replaces"),
                              profile=p["profile"]))
        return items, False
    if p["private_key_path"] or p["private_key_content"]:
        csr = csr_from_key(module)
    else:
        csr = _glue.read_input(module, "csr_path", "csr_content").decode("ascii", "replace")
    return [dict(name=p["name"] or "certificate", csr_pem=csr, domains=p["domains"], order_url=p["order_url"],
                 challenges=p["challenges"], replaces=p["replaces"], profile=p["profile"])], True


def main():
    argument_spec = _glue.acme_argument_spec()
    argument_spec.update(
        name=dict(type="str"),
        csr_path=dict(type="path"),
        csr_content=dict(type="str"),
        private_key_path=dict(type="path"),
        private_key_content=dict(type="str", no_log=True),
        domains=dict(type="list", elements="str"),
        order_url=dict(type="str"),
        challenges=dict(type="list", elements="dict"),
        replaces=dict(type="str"),
        orders=dict(type="list", elements="dict"),
        challenge_type=dict(type="str", default="http-01", choices=["http-01"]),
        profile=dict(type="str"),
        preferred_chain=dict(type="str"),
        fail_on_order_error=dict(type="bool", default=True),
        workers=dict(type="int", default=8),
        acme_session=dict(type="dict"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=_glue.ACME_MUTUALLY_EXCLUSIVE + [
            ("orders", "csr_path", "csr_content", "private_key_path", "private_key_content")],
        required_one_of=_glue.ACME_REQUIRED_ONE_OF + [
            ("orders", "csr_path", "csr_content", "private_key_path", "private_key_content")],
        required_by={"private_key_path": "domains", "private_key_content": "domains"},
        supports_check_mode=True,
    )
    _glue.require_libraries(module)
    p = module.params
    items, single = build_items(module)
    ctype = p["challenge_type"]
    try:
        for item in items:  # all local checks before the first request
            item["domains"] = acme_orders.prepare_request(item["name"], item["csr_pem"], item["domains"], ctype)
    except _glue.CertfleetError as error:
        _glue.fail_from(module, error)
    if not items:
        module.exit_json(changed=False, orders=[], failed_names=[], acme_requests=0)
    if module.check_mode:
        results = [dict(name=i["name"], domains=i["domains"], order_url=i["order_url"],
                        step="finalize" if i["order_url"] else "order") for i in items]
        module.exit_json(changed=True, orders=results, failed_names=[], acme_requests=0)
    session = None
    try:
        session = _glue.open_session(module)
        acme_orders.check_profile(session, p["profile"])

        def handle(item):
            if item["order_url"]:
                return acme_orders.finalize_order(session, item, ctype, preferred_chain=p["preferred_chain"])
            return acme_orders.create_order(session, item, ctype)

        results = acme_orders.run_batch(handle, items, workers=p["workers"])
    except _glue.CertfleetError as error:
        _glue.fail_from(module, error, acme_requests=session.request_count if session else 0)
    failed_names = [r["name"] for r in results if r.get("failed")]
    changed = any(r.get("changed", True) for r in results if not r.get("failed"))
    out = dict(changed=changed, orders=results, failed_names=failed_names, account_uri=session.account_uri,
               acme_requests=session.request_count, acme_session=session.carry())
    if single:
        out.update({k: v for k, v in results[0].items() if k not in ("failed",)})
    if failed_names and (p["fail_on_order_error"] or single):
        first = next(r for r in results if r.get("failed"))
        out["msg"] = "%d of %d orders failed; first: %s: %s" % (
            len(failed_names), len(results), first["name"], first["msg"])
        module.fail_json(**out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
