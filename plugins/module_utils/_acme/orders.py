# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Orders in two steps (create, then validate+finalize), for one certificate or a whole fleet at once.

Request budget per certificate with one name (RFC 8555 §7.4): newOrder, authorization, challenge,
order poll, finalize, certificate download = 6. Directory, nonce and account are paid once per call,
not per certificate, because the fleet's orders share one session.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

try:
    import josepy as jose
    import requests
    from acme import messages
    from cryptography import x509
    HAS_ACME = True
    _JSONObject = jose.JSONObjectWithFields
except ImportError:  # pragma: no cover
    HAS_ACME = False
    _JSONObject = object

from .._tls.keys import check_csr_matches, csr_domains, normalize_domains
from .._tls.x509info import certificate_facts, choose_chain, load_certificate, split_pem_chain
from .challenges import check_token, dns_records, get_challenge_type
from ..errors import AcmeProblem, AcmeTimeout, CertfleetError, InputError, ValidationFailed

if HAS_ACME:
    class NewOrderBody(jose.JSONObjectWithFields):
        """newOrder payload with the extensions the library lacks: ``replaces`` (RFC 9773 §5) and
        ``profile`` (draft-aaron-acme-profiles)."""
        identifiers: list = jose.field("identifiers")
        profile: str = jose.field("profile", omitempty=True)
        replaces: str = jose.field("replaces", omitempty=True)

    class DeactivateBody(jose.JSONObjectWithFields):
        """``{"status": "deactivated"}`` (RFC 8555 §7.5.2)."""
        status: str = jose.field("status")

    class EmptyObject(jose.JSONObjectWithFields):
        """``{}``: the payload that tells the CA a challenge is ready (RFC 8555 §7.5.1).

        The library sends an empty body (POST-as-GET) for a *falsy* payload, and a field-less josepy
        object is falsy; one omitted field keeps it truthy while it still serializes to ``{}``.
        """
        unused: str = jose.field("unused", omitempty=True)


class PollPolicy:
    """Our own polling: the library's poll_and_finalize sleeps a fixed second; Pebble answers in ms."""

    def __init__(self, first=0.05, factor=1.6, cap=2.0, sleep=time.sleep):
        self.first, self.factor, self.cap, self.sleep = first, factor, cap, sleep

    def delays(self):
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


def prepare_request(name, csr_pem, domains=None, challenge_type="http-01"):
    """Check an order request before any network: challenge type, CSR signature, names, wildcard vs challenge type."""
    get_challenge_type(challenge_type)
    dummy, names = csr_domains(csr_pem, what="CSR of %s" % name)
    names = normalize_domains(names, challenge_type)
    if domains:
        check_csr_matches(names, normalize_domains(domains, challenge_type), what="CSR of %s" % name)
    return names


def order_names(request, challenge_type="http-01"):
    """The identifiers of a new order: from its CSR, or (an order placed ahead, before the host's key exists) from
    its ``domains``. RFC 8555 section 7.4 asks only for identifiers at newOrder; the CSR comes with finalize, whose
    own check (finalize_order) holds it to the order's names."""
    if request.get("csr_pem"):
        return prepare_request(request["name"], request["csr_pem"], request.get("domains"), challenge_type)
    get_challenge_type(challenge_type)
    if not request.get("domains"):
        raise InputError("order %s has neither a CSR nor domains" % request["name"])
    return normalize_domains(request["domains"], challenge_type)


def _post(session, url, obj=None):
    return session.post(url, obj)  # signed POST (POST-as-GET when obj is None), with our retries


def link_urls(response, relation):
    """Every Link URL of ``relation`` (RFC 8288); ``response.links`` would keep only one per relation, and an
    ACME CA may announce several alternate chains (RFC 8555 §7.4.2)."""
    header = response.headers.get("Link")
    if not header:
        return []
    return [link["url"] for link in requests.utils.parse_header_links(header)
            if link.get("rel") == relation and link.get("url")]


def check_profile(session, profile):
    if not profile:
        return
    profiles = session.meta("profiles") or {}
    if not profiles:
        raise InputError("profile %r asked, but the CA at %s lists no ACME profiles" % (profile, session.directory_url))
    if profile not in profiles:
        raise InputError("profile %r is not offered by the CA at %s; it offers: %s"
                         % (profile, session.directory_url, ", ".join(sorted(profiles))))


def deactivate_pending_authorizations(session, order, problems=None):
    """RFC 8555 §7.5.2: give up an abandoned order's pending authorizations, so they do not linger.

    Best effort, never raises: an authorization that expired or was answered meanwhile needs nothing, and a
    failure here must not hide the error that made us abandon the order. ``problems`` (a list), when given,
    collects what could not be done. Returns the URLs of the authorizations deactivated now.
    """
    deactivated = []
    for authz_url in order.get("authorizations", []):
        try:
            authz = _post(session, authz_url).json()
            if authz.get("status") == "pending":
                _post(session, authz_url, DeactivateBody(status="deactivated"))
                deactivated.append(authz_url)
        except CertfleetError as error:
            if problems is not None:
                problems.append("%s: %s" % (authz_url, error.msg))
    return deactivated


def _record_at_ca(error, order_url, changed, deactivated=None):
    """Tag an error with what its order left at the CA; run_batch copies it into the failed order's result.

    ``changed``: the CA's state changed before the failure (a newOrder was sent, a challenge answered,
    authorizations deactivated), so the module reports changed=true even though the order failed.
    """
    at_ca = dict(getattr(error, "at_ca", None) or {})
    at_ca["changed"] = bool(at_ca.get("changed") or changed)
    if order_url:
        at_ca["order_url"] = order_url
    if deactivated is not None:
        at_ca["deactivated_authorizations"] = len(deactivated)
    try:
        error.at_ca = at_ca
    except AttributeError:  # pragma: no cover - an exception type without a __dict__
        pass


def abandon_order(session, order):
    """Give up an order of the first step whose challenges will never be served (its host dropped out).

    ``order`` is one entry of the first step's ``orders`` result (name, order_url, authorizations). No challenge
    is answered, so the CA records no failed validation (which Let's Encrypt limits per account, name and
    hour); its pending authorizations are deactivated (RFC 8555 §7.5.2), which makes the order invalid.
    Returns dict(name, order_url, deactivated_authorizations, changed) and, when something could not be done,
    msg.
    """
    name, order_url = order.get("name"), order.get("order_url")
    result = {"name": name, "order_url": order_url, "deactivated_authorizations": 0, "changed": False}
    if not order_url:
        return result  # the first step failed before the order existed: nothing at the CA to give up
    authorizations = order.get("authorizations")
    if authorizations is None:
        try:
            authorizations = _post(session, order_url).json().get("authorizations", [])
        except CertfleetError as error:
            result["msg"] = "order %s of %s could not be read to abandon it: %s" % (order_url, name, error.msg)
            return result
    problems = []
    deactivated = deactivate_pending_authorizations(session, {"authorizations": authorizations}, problems)
    result.update(deactivated_authorizations=len(deactivated), changed=bool(deactivated))
    if problems:
        result["msg"] = "some authorizations of %s could not be deactivated: %s" % (name, "; ".join(problems))
    return result


def resume_order(session, request, names, challenge_type):
    """Pick up the order of a run that died (its URL was recorded on the host next to the staged key).

    Returns the same shape as create_order, or None when the order cannot be used (then its pending
    authorizations are deactivated and a new order is placed). Resuming, rather than ordering again, is
    what keeps a renewal from colliding with its own earlier ``replaces`` (RFC 9773 §5).
    """
    url = request["resume_order_url"]
    try:
        order = _post(session, url).json()
    except AcmeProblem:
        return None
    wanted = sorted(names)
    found = sorted(i.get("value") for i in order.get("identifiers", []))
    if order.get("status") not in ("pending", "ready", "processing", "valid") or found != wanted:
        deactivate_pending_authorizations(session, order)
        return None
    try:
        challenges = _challenges_of(session, order, challenge_type) if order.get("status") == "pending" else []
    except Exception as error:
        # A refused token (or any other reason not to serve it): the order is abandoned, RFC 8555 §7.5.2.
        deactivated = deactivate_pending_authorizations(session, order)
        _record_at_ca(error, url, bool(deactivated), deactivated)
        raise
    return _summary(request, names, url, order, challenges, challenge_type, resumed=True)


def _summary(request, names, order_url, order, challenges, challenge_type, resumed=False, replaces_dropped=False):
    """What the first step returns and the second step takes back (JSON-friendly, nothing secret).

    ``dns_records``: for dns-01, the TXT records to place (record, type, values), one per record name, ready for
    certfleet.tls.dns_record's ``records``; empty for http-01."""
    return {
        "name": request["name"],
        "csr": (request.get("csr_pem") or "") if isinstance(request.get("csr_pem") or "", str)
        else request["csr_pem"].decode(),
        "order_url": order_url,
        "status": order.get("status"),
        "domains": names,
        "finalize_url": order.get("finalize"),
        "authorizations": order.get("authorizations", []),
        "challenges": challenges,
        "challenge_type": challenge_type,
        "dns_records": dns_records(challenges),
        "replaces_dropped": replaces_dropped,
        "resumed": resumed,
        "changed": not resumed,  # resuming creates nothing at the CA
    }


def create_order(session, request, challenge_type="http-01"):
    """Place one order and describe what must be served before validation.

    ``request``: dict(name, csr_pem, domains?, profile?, replaces?, resume_order_url?, challenge_type?). The
    request's own ``challenge_type`` wins over the argument (one call may mix http-01 and dns-01 certificates).
    Returns a JSON-friendly dict.
    """
    challenge_type = request.get("challenge_type") or challenge_type
    names = order_names(request, challenge_type)
    if request.get("resume_order_url"):
        resumed = resume_order(session, request, names, challenge_type)
        if resumed is not None:
            return resumed
    ctype = get_challenge_type(challenge_type)
    body = NewOrderBody(identifiers=[{"type": "dns", "value": n} for n in names],
                        profile=request.get("profile") or None, replaces=request.get("replaces") or None)
    replaces_dropped = False
    order_url = order = None
    try:
        # From the first newOrder on, the call counts as a change even if the order then fails: the CA may
        # hold an order it did not hold before (and counts it against the account's new-order limit).
        try:
            response = _post(session, session.directory["newOrder"], body)
        except AcmeProblem:
            # RFC 9773 §5: a CA may refuse ``replaces`` (already replaced, unknown cert); the order itself is
            # still wanted, so ask again without it rather than block the renewal.
            if not request.get("replaces"):
                raise
            replaces_dropped = True
            body = NewOrderBody(identifiers=body.identifiers, profile=body.profile)
            response = _post(session, session.directory["newOrder"], body)
        order_url = response.headers.get("Location")
        order = response.json()
        challenges = _new_challenges(session, order, ctype, challenge_type)
    except Exception as error:
        # An order we will not go on with (a refused token, an authorization that cannot be served) keeps
        # its pending authorizations at the CA until they expire: deactivate them (RFC 8555 §7.5.2).
        deactivated = deactivate_pending_authorizations(session, order) if order else None
        _record_at_ca(error, order_url, True, deactivated)
        raise
    return _summary(request, names, order_url, order, challenges, challenge_type, replaces_dropped=replaces_dropped)


def _new_challenges(session, order, ctype, challenge_type):
    """The challenges to serve for a new order; a token that is not base64url refuses the whole order."""
    challenges = []
    for authz_url in order.get("authorizations", []):
        authz = _post(session, authz_url).json()
        identifier = authz.get("identifier", {}).get("value")
        if authz.get("status") == "valid":
            continue  # reused authorization (RFC 8555 §7.1.4): nothing to serve
        if authz.get("status") != "pending":
            raise AcmeProblem("authorization for %s is %s at %s" % (identifier, authz.get("status"), authz_url),
                              problem_type="certfleet:authorizationNotPending", url=authz_url)
        raw = [c for c in authz.get("challenges", []) if c.get("type") == challenge_type]
        if not raw:
            raise AcmeProblem("the CA offers no %s challenge for %s (offers: %s)" % (
                challenge_type, identifier, ", ".join(c.get("type", "?") for c in authz.get("challenges", []))),
                problem_type="certfleet:challengeUnavailable", url=authz_url)
        check_token(raw[0].get("token"), source=authz_url)  # before the library parses it
        challb = messages.ChallengeBody.from_json(raw[0])
        challenges.append(ctype.describe(challb, session.jwk, identifier, source=authz_url))
    return challenges


def _challenges_of(session, order, challenge_type):
    """Rebuild the pending challenges of an existing order (a resumed or second-step call)."""
    ctype = get_challenge_type(challenge_type)
    found = []
    for authz_url in order.get("authorizations", []):
        authz = _post(session, authz_url).json()
        if authz.get("status") != "pending":
            continue
        for raw in authz.get("challenges", []):
            if raw.get("type") == challenge_type and raw.get("status") == "pending":
                check_token(raw.get("token"), source=authz_url)
                found.append(ctype.describe(messages.ChallengeBody.from_json(raw), session.jwk,
                                            authz["identifier"]["value"], source=authz_url))
    return found


def _validation_errors(session, order):
    subproblems = []
    for authz_url in order.get("authorizations", []):
        authz = _post(session, authz_url).json()
        for chall in authz.get("challenges", []):
            if chall.get("error"):
                subproblems.append({"identifier": authz.get("identifier", {}).get("value"),
                                    "type": chall["error"].get("type"), "detail": chall["error"].get("detail")})
    return subproblems


def finalize_order(session, request, challenge_type="http-01", poll=None, preferred_chain=None):
    """Tell the CA the challenges are served, wait, finalize with the CSR, download the chain.

    ``request``: dict(name, csr_pem, order_url, challenges?, challenge_type?). When ``challenges`` comes from the
    first step it is used as is (no re-fetch of order and authorizations: two requests saved per name). For
    dns-01 the TXT records must be in place (and served by every authoritative server) before this call.
    """
    challenge_type = request.get("challenge_type") or challenge_type
    poll = poll or PollPolicy()
    prepare_request(request["name"], request["csr_pem"], None, challenge_type)
    progress = {"answered": False, "finalized": False}
    try:
        return _validate_and_finalize(session, request, challenge_type, poll, preferred_chain, progress)
    except Exception as error:
        # A challenge answered or a finalize sent changed the CA's state, even when the order then fails.
        _record_at_ca(error, request["order_url"], progress["answered"] or progress["finalized"])
        raise


def _validate_and_finalize(session, request, challenge_type, poll, preferred_chain, progress):
    order_url = request["order_url"]
    challenges = request.get("challenges")
    order = None
    if challenges is None:
        order = _post(session, order_url).json()
        challenges = _challenges_of(session, order, challenge_type) if order.get("status") == "pending" else []
    for chall in challenges:  # every token checked before the first answer: all or nothing
        check_token(chall["token"], source=chall.get("url"))
    for chall in challenges:
        progress["answered"] = True  # set before the POST: a timeout may still have reached the CA
        _post(session, chall["url"], EmptyObject())
    csr = x509.load_pem_x509_csr(request["csr_pem"].encode() if isinstance(request["csr_pem"], str)
                                 else request["csr_pem"])
    finalized = False
    for delay in poll.delays():
        if order is None or order.get("status") in ("pending", "processing"):
            if session.net.policy.remaining() <= delay:
                raise AcmeTimeout("order %s for %s still %s when acme_timeout ran out"
                                  % (order_url, request["name"], (order or {}).get("status", "pending")),
                                  url=order_url)
            if order is not None or challenges:
                poll.sleep(delay)
            order = _post(session, order_url).json()
        status = order.get("status")
        if status == "invalid":
            subproblems = _validation_errors(session, order)
            detail = "; ".join("%s: %s" % (s["identifier"], s["detail"]) for s in subproblems) or \
                str(order.get("error"))
            raise ValidationFailed("the CA could not validate %s: %s" % (request["name"], detail),
                                   subproblems=subproblems, order_url=order_url)
        if status == "ready" and not finalized:
            finalized = progress["finalized"] = True
            order = _post(session, order["finalize"], messages.CertificateRequest(csr=csr)).json()
            continue
        if status == "valid" and order.get("certificate"):
            result = _download(session, request["name"], order_url, order["certificate"], preferred_chain)
            # Only a download of an order finalized earlier changes nothing at the CA.
            result["changed"] = bool(challenges) or finalized
            return result
        if status == "ready":
            order = None  # finalize answered "ready" again: poll until processing/valid


def _download(session, name, order_url, certificate_url, preferred_chain):
    response = _post(session, certificate_url)
    fullchains = [response.text]
    if preferred_chain:
        # RFC 8555 §7.4.2: alternate chains are announced with Link: rel="alternate".
        for url in link_urls(response, "alternate"):
            fullchains.append(_post(session, url).text)
    fullchain = choose_chain(fullchains, preferred_chain)
    blocks = split_pem_chain(fullchain)
    facts = certificate_facts(load_certificate(blocks[0]))
    return {
        "name": name,
        "order_url": order_url,
        "cert": blocks[0],
        "chain": "".join(blocks[1:]),
        "fullchain": "".join(blocks),
        "alternate_chains": len(fullchains) - 1,
        "facts": facts,
    }


def run_batch(func, items, workers=8):
    """Run ``func(item)`` for every item in threads; one failure never hides the others' results."""
    def guarded(item):
        try:
            return func(item)
        except CertfleetError as error:
            result = {"name": item.get("name"), "failed": True, "msg": error.msg, "changed": False}
            result.update(error.to_result())
            result.update(getattr(error, "at_ca", None) or {})  # order URL, changed, deactivated authorizations
            return result
        except Exception as error:  # pylint: disable=broad-except
            # Anything else (a CA answer the library cannot parse, say) still fails only this item, with a
            # message that names it, rather than a traceback that hides the other orders' results.
            msg = "unexpected %s while handling %s: %s" % (type(error).__name__, item.get("name"), str(error)[:300])
            result = {"name": item.get("name"), "failed": True, "msg": msg, "changed": False}
            result.update(getattr(error, "at_ca", None) or {})
            return result
    if len(items) <= 1:
        return [guarded(item) for item in items]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(guarded, items))
