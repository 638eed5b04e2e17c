# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: served_summary
short_description: One line per host from a tls_verify result
version_added: 0.1.0
description:
  - Turns one entry of M(certfleet.tls.tls_verify)'s RV(certfleet.tls.tls_verify#module:results) into
    C(host domain serial=… not_after=… issuer=… tls=verified|FAILED (why) ct_scts=N ocsp=URL|none).
  - When M(certfleet.tls.tls_verify) checked the staple (its O(certfleet.tls.tls_verify#module:check_staple)) of a
    certificate that names an OCSP responder, the line ends with C(staple=STATUS) and, when known,
    C(next_update=…). STATUS is the verified staple's C(good), C(revoked) (with its reason) or C(unknown), else
    the check's outcome C(not_stapled), C(stale), C(invalid) or C(not_checked) (with the reason).
options:
  _input:
    description: One tls_verify result entry.
    type: dict
    required: true
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Print the report
  ansible.builtin.debug:
    msg: "{{ verified.results | map('certfleet.tls.served_summary') | list }}"
"""

RETURN = r"""
_value:
  description: The summary line.
  type: str
"""


def served_summary(entry):
    if not entry.get("verified"):
        status = "FAILED (%s)" % entry.get("error")
    elif entry.get("chain_verified") is False:
        status = "names and serial verified, chain not (staging CA, not trusted by browsers)"
    else:
        status = "verified"
    # Say what the web PKI offers for this certificate today rather than "stapling off" or "no CT".
    ocsp = ",".join(entry.get("ocsp_responders") or []) or "none (the issuer runs no OCSP responder)"
    line = "%s %s serial=%s not_after=%s issuer=%s tls=%s ct_scts=%d ocsp=%s" % (
        entry.get("name"), entry.get("server_name"), entry.get("serial"), entry.get("not_after"),
        entry.get("issuer"), status, len(entry.get("scts") or []), ocsp)
    return line + staple_text(entry)


def staple_text(entry):
    """' staple=good next_update=…' from the entry's staple; '' when it was not checked or cannot exist."""
    staple = entry.get("staple")
    if not staple or staple.get("outcome") == "no_responder" or not entry.get("ocsp_responders"):
        return ""
    verified = staple.get("outcome") == "verified"
    text = " staple=%s" % (staple.get("status") if verified else staple.get("outcome"))
    if verified and staple.get("revocation_reason"):
        text += " (%s)" % staple["revocation_reason"]
    if staple.get("next_update"):
        text += " next_update=%s" % staple["next_update"]
    if staple.get("error"):
        text += " (%s)" % staple["error"]
    return text


class FilterModule:
    def filters(self):
        return {"served_summary": served_summary}
