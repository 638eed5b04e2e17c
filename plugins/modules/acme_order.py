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
    of an order finalized earlier, is not a change; sending a new order, answering a challenge, finalizing or
    deactivating an authorization is, even when the order fails afterwards.
  - An order the call gives up on after placing it (a challenge token that is not base64url, an authorization
    that cannot be served) has its pending authorizations deactivated (RFC 8555 section 7.5.2) before the call
    reports it failed, so that nothing lingers at the CA.
  - O(profile) is checked against the profiles the CA's directory lists before any request is signed, so a
    misspelt profile costs no account lookup and no order.
  - Its action plugin runs this code inside Ansible's worker on the control node, not as a separate Python
    process; the task's host and connection are not used (plugins/plugin_utils/worker_module.py).
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
        C(order_url), C(challenges), C(replaces), C(resume_order_url), C(profile) (this item's profile; default
        O(profile)), C(challenge_type) (V(http-01) or V(dns-01); default O(challenge_type)). Items with
        C(order_url) are finalized, the others ordered. The items of the first step's RV(orders) can be passed back
        as they are, since they carry their C(challenge_type).
      - An item to order may leave out C(csr) when it gives C(domains) (an order placed ahead, before the key
        that will be certified exists; RFC 8555 asks only for the identifiers at newOrder). Its C(csr) must then
        be given when it is finalized, and must name the same domains.
      - C(resume_order_url) is the order of an earlier run that died (recorded on the host). It is resumed
        when still usable (same names, not invalid); otherwise its pending authorizations are deactivated and
        a new order is placed.
    type: list
    elements: dict
  abandon:
    description:
      - Orders of the first step to give up instead of finalizing, typically those whose challenge files could
        not be pushed to a host that became unreachable between the two steps. Same shape as the items of
        RV(orders) returned by the first step; C(order_url) is what matters, C(authorizations) saves reading
        the order again, C(name) labels the result.
      - None of their challenges is answered, so the CA records no failed validation (Let's Encrypt allows
        five per account, hostname and hour). Their pending authorizations are deactivated (RFC 8555
        section 7.5.2), which makes the order invalid. They are reported in RV(abandoned).
      - An order given both in O(orders) (or O(order_url)) and here is abandoned, not finalized.
      - A failure to deactivate is reported in its RV(abandoned) entry and never fails the task, because an
        authorization nobody answers expires on its own.
    type: list
    elements: dict
  challenge_type:
    description:
      - Challenge type to answer, for every order that does not name its own (the C(challenge_type) key of an
        O(orders) item wins).
      - V(http-01) (RFC 8555 section 8.3) refuses wildcard names. V(dns-01) (RFC 8555 section 8.4) allows them; the
        first step then returns, per challenge, the TXT C(record) (C(_acme-challenge.<name>)) and its C(value),
        and per order the merged C(dns_records) to place with M(certfleet.tls.dns_record) before the second step.
    type: str
    choices: [http-01, dns-01]
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
      - The RV(certfleet.tls.caa_check#module:acme_session) of a CAA check of the same run has the same form (the
        directory and no nonces), so the first step sends no directory request either. A session read from
        another directory URL is ignored.
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

- name: A wildcard and its apex by dns-01 (first step); the result carries the TXT records to place
  certfleet.tls.acme_order:
    acme_directory: letsencrypt_staging
    account_key_path: ~/.acme/account.key
    challenge_type: dns-01
    private_key_path: /srv/keys/example.org.key
    domains: ["*.example.org", example.org]
  delegate_to: localhost
  register: wildcard_order

- name: Place the TXT records in one update per zone, and wait until every authoritative server answers them
  certfleet.tls.dns_record:
    server: ns1.example.org
    tsig_key_name: acme-update
    tsig_key_secret: "{{ vault_tsig_secret }}"
    records: "{{ wildcard_order.dns_records }}"
    wait: true
  delegate_to: localhost

# fleet_order: the registered result of a first step in the list form (orders);
# unreachable_names: the certificate names whose challenge files could not be pushed.
- name: Validate and finalize (second step); give up the orders of hosts that did not get their challenge files
  certfleet.tls.acme_order:
    acme_directory: letsencrypt_staging
    account_key_path: ~/.acme/account.key
    account_uri: "{{ fleet_order.account_uri }}"
    acme_session: "{{ fleet_order.acme_session }}"
    orders: "{{ fleet_order.orders | rejectattr('failed', 'defined') | list }}"
    abandon: "{{ fleet_order.orders | selectattr('name', 'in', unreachable_names) | list }}"
    fail_on_order_error: false
  delegate_to: localhost
  run_once: true
  register: fleet_issued

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
      description:
        - Pending challenges (first step), each with identifier, type, token, key_authorization, url, and
          path (http-01) or record and value (dns-01, the TXT record C(_acme-challenge.<identifier>) and the
          base64url SHA-256 digest of the key authorization, RFC 8555 section 8.4).
      type: list
    challenge_type:
      description: The challenge type of this order (first step).
      type: str
    dns_records:
      description:
        - dns-01 (first step) - the TXT records to place, one per record name with every value it must hold (a
          wildcard and its apex both answer at C(_acme-challenge.<apex>)); each has record, type (TXT) and values.
          Pass them as O(certfleet.tls.dns_record#module:records). Empty for http-01.
      type: list
      elements: dict
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
    deactivated_authorizations:
      description:
        - Present on an order that failed after it was placed (for example a refused challenge token) - how
          many of its pending authorizations were deactivated (RFC 8555 section 7.5.2).
      type: int
abandoned:
  description: One entry per order of O(abandon), in input order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Certificate name (C(name) of the O(abandon) item).
      type: str
    order_url:
      description: The abandoned order.
      type: str
    deactivated_authorizations:
      description: Pending authorizations deactivated by this call (null in check mode, which sends nothing).
      type: int
    msg:
      description: What could not be done (an authorization or the order that could not be read or deactivated).
      type: str
      returned: when something could not be done
order_url:
  description: Order URL (single form).
  returned: single form
  type: str
challenges:
  description: Pending challenges (single form, first step).
  returned: single form, first step
  type: list
  elements: dict
dns_records:
  description: The TXT records to place for dns-01 (single form, first step); see RV(orders[].dns_records).
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
    domains = tls_keys.normalize_domains(p["domains"], p["challenge_type"])
    return tls_keys.make_csr(tls_keys.load_private_key(key_pem, what="private key"), domains).decode()


def build_items(module):
    p = module.params
    if p["orders"] is not None:
        items = []
        for index, item in enumerate(p["orders"]):
            # An order placed ahead (before the host's key exists) needs only its domains; finalize needs the CSR.
            if not item.get("csr") and (item.get("order_url") or not item.get("domains")):
                raise _glue.InputError("orders[%d] (%s) has no csr%s" % (
                    index, item.get("name"), "" if item.get("order_url") else " and no domains"))
            items.append(dict(name=item.get("name") or "orders[%d]" % index, csr_pem=item.get("csr"),
                              domains=item.get("domains"), order_url=item.get("order_url"),
                              resume_order_url=item.get("resume_order_url"),
                              challenges=item.get("challenges"), replaces=item.get("replaces"),
                              profile=item.get("profile") or p["profile"],
                              challenge_type=item.get("challenge_type") or p["challenge_type"]))
        return items, False
    if p["private_key_path"] or p["private_key_content"]:
        csr = csr_from_key(module)
    elif p["csr_path"] or p["csr_content"]:
        csr = _glue.read_input(module, "csr_path", "csr_content").decode("ascii", "replace")
    else:
        return [], True  # only orders to abandon
    return [dict(name=p["name"] or "certificate", csr_pem=csr, domains=p["domains"], order_url=p["order_url"],
                 challenges=p["challenges"], replaces=p["replaces"], profile=p["profile"],
                 challenge_type=p["challenge_type"])], True


def abandoned_orders(params):
    """The first step's orders whose challenges must never be answered (their host dropped out)."""
    abandon = []
    for index, order in enumerate(params["abandon"] or []):
        abandon.append(dict(order, name=order.get("name") or "abandon[%d]" % index))
    return abandon


def place_and_finalize(call):
    """The module's work: local checks, then one session for every order (see run_module for errors)."""
    p = call.params
    items, single = build_items(call.module)
    abandon = abandoned_orders(p)
    # An order listed in both is abandoned: its host never got the challenge file, so answering it would
    # only cost a failed validation at the CA.
    abandoned_urls = set(a["order_url"] for a in abandon if a.get("order_url"))
    items = [i for i in items if not (i["order_url"] and i["order_url"] in abandoned_urls)]
    for item in items:  # all local checks before the first request (the challenge type of each order included)
        item["domains"] = acme_orders.order_names(item, item["challenge_type"])
    if call.check_mode:
        results = [dict(name=i["name"], domains=i["domains"], order_url=i["order_url"],
                        challenge_type=i["challenge_type"],
                        step="finalize" if i["order_url"] else "order") for i in items]
        abandoned = [dict(name=a["name"], order_url=a.get("order_url"), deactivated_authorizations=None)
                     for a in abandon]
        return dict(changed=bool(items or abandoned_urls), orders=results, abandoned=abandoned, failed_names=[],
                    acme_requests=0)
    if not items and not abandon:
        return dict(changed=False, orders=[], abandoned=[], failed_names=[], acme_requests=0)
    session = call.open_session(account=False)
    for profile in sorted(set(i.get("profile") for i in items if i.get("profile")) | set([p["profile"]] if p["profile"] else [])):
        acme_orders.check_profile(session, profile)  # from the directory: before any POST
    _glue.use_account(call.module, session)

    def handle(item):
        if item.get("abandon") is not None:
            return acme_orders.abandon_order(session, item["abandon"])
        if item["order_url"]:
            return acme_orders.finalize_order(session, item, item["challenge_type"], preferred_chain=p["preferred_chain"])
        return acme_orders.create_order(session, item, item["challenge_type"])

    outcomes = acme_orders.run_batch(handle, [dict(name=a["name"], abandon=a) for a in abandon] + items,
                                     workers=p["workers"])
    abandoned, results = outcomes[:len(abandon)], outcomes[len(abandon):]
    # changed: a newOrder was sent, a challenge answered, an order finalized or authorizations deactivated,
    # even when the order failed afterwards (RFC 8555 state at the CA, not the task's success).
    changed = any([bool(r.get("changed")) for r in results] + [bool(a.pop("changed", False)) for a in abandoned])
    failed_names = [r["name"] for r in results if r.get("failed")]
    out = dict(changed=changed, orders=results, abandoned=abandoned, failed_names=failed_names,
               account_uri=session.account_uri, acme_requests=session.request_count, acme_session=session.carry())
    if single and results:
        out.update({k: v for k, v in results[0].items() if k not in ("failed", "changed")})
    if failed_names and (p["fail_on_order_error"] or single):
        first = next(r for r in results if r.get("failed"))
        out.update(failed=True, msg="%d of %d orders failed; first: %s: %s" % (
            len(failed_names), len(results), first["name"], first["msg"]))
    return out


def module_kwargs():
    """The AnsibleModule arguments, shared with the action plugin that runs this module in Ansible's worker."""
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
        abandon=dict(type="list", elements="dict"),
        challenge_type=dict(type="str", default="http-01", choices=["http-01", "dns-01"]),
        profile=dict(type="str"),
        preferred_chain=dict(type="str"),
        fail_on_order_error=dict(type="bool", default=True),
        workers=dict(type="int", default=8),
        acme_session=dict(type="dict"),
    )
    return dict(
        argument_spec=argument_spec,
        mutually_exclusive=_glue.ACME_MUTUALLY_EXCLUSIVE + [
            ("orders", "csr_path", "csr_content", "private_key_path", "private_key_content")],
        required_one_of=_glue.ACME_REQUIRED_ONE_OF + [
            ("orders", "csr_path", "csr_content", "private_key_path", "private_key_content", "abandon")],
        required_by={"private_key_path": "domains", "private_key_content": "domains"},
        supports_check_mode=True,
    )


def run(module):
    _glue.run_module(module, place_and_finalize)


def main():
    run(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
