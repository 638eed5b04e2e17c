# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by a module file and the code that calls it (standard library only).

The certificate_prepare action validates its task arguments with CERTIFICATE_PREPARE_SPEC, and the module
file documents the same options; certificate_state (the host side) declares CERTIFICATE_STATE_SPEC. Keeping
them here lets the action plugin import a spec without importing a module file.
"""

from __future__ import annotations

KEY_TYPES = ["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"]
# Keys cheap enough to make in every run and offer for staging ahead (certificate_prepare), and so the only
# certificates whose orders the role places ahead (results.order_ahead_plans).
AHEAD_KEY_TYPES = ("ec256", "ec384")

# One certificate of a host, as the certificate_requests filter normalizes it (extra keys pass through).
REQUEST_SPEC = dict(
    name=dict(type="str"),
    domains=dict(type="list", elements="str", required=True),
    dir=dict(type="path", required=True),
    webroot=dict(type="path"),
    key_type=dict(type="str", choices=KEY_TYPES),
    profile=dict(type="str"),
    challenge=dict(type="str", default="http-01", choices=["http-01", "dns-01"]),
)

CERTIFICATE_PREPARE_SPEC = dict(
    requests=dict(type="list", elements="dict"),
    domains=dict(type="list", elements="str"),
    name=dict(type="str"),
    certificate_dir=dict(type="path"),
    webroot=dict(type="path"),
    key_type=dict(type="str", default="ec256", choices=KEY_TYPES),
    renew_at_fraction=dict(type="float", default=0.33),
    renew_before_days=dict(type="float"),
    force=dict(type="bool", default=False),
    test_command=dict(type="list", elements="str"),
    preflight=dict(type="bool", default=True),
    preflight_address=dict(type="str"),
    preflight_port=dict(type="int", default=80),
    preflight_timeout=dict(type="float", default=5),
    verify_port=dict(type="int", default=443),
    backends=dict(type="raw", default=1),
    incomplete_backends=dict(type="dict", default={}),
    key_policy=dict(type="str", default="rotate_each_issue", choices=["rotate_each_issue", "reuse", "pinned"]),
    key_store=dict(type="path"),
    key_contents=dict(type="dict", default={}, no_log=True),
    dns_configured=dict(type="bool", default=True),
    ahead_orders=dict(type="list", elements="dict", default=[]),
    ari=dict(type="bool", default=False),
    acme_directory=dict(type="str", default="letsencrypt_staging"),
    acme_ca_bundle=dict(type="path"),
    lock_timeout=dict(type="float", default=120),
)

CERTIFICATE_STATE_SPEC = dict(
    step=dict(type="str", default="read", choices=["read", "stage", "remove_probe", "discard_staged"]),
    certificates=dict(type="list", elements="dict", required=True, options=dict(
        certificate_dir=dict(type="path", required=True),
        webroot=dict(type="path"),
        privkey=dict(type="str", no_log=True),
        csr=dict(type="str"),
        probe_token=dict(type="str", no_log=False),
        probe_content=dict(type="str"),
        # An order placed ahead: its challenge files go with the key staged ahead (key authorizations are public).
        challenges=dict(type="list", elements="dict", options=dict(
            token=dict(type="str", required=True, no_log=False),
            key_authorization=dict(type="str", required=True, no_log=False),
        )),
        order_url=dict(type="str"),
    )),
    test_command=dict(type="list", elements="str"),
    renew_at_fraction=dict(type="float"),
    renew_before_days=dict(type="float"),
    lock_timeout=dict(type="float", default=120),
)

# certfleet.tls.tls_decide: an action plugin on the control node (no module process); the module file documents it.
TLS_DECIDE_SPEC = dict(
    targets=dict(type="list", elements="dict", required=True),
    renew_at_fraction=dict(type="float", default=0.33),
    renew_before_days=dict(type="float"),
    force=dict(type="bool", default=False),
    timeout=dict(type="float", default=5),
    workers=dict(type="int", default=16),
)
