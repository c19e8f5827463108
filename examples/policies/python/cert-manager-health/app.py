"""cert-manager-health, ported from policies/cert-manager-health: the health
of cert-manager Certificates, CertificateRequests, Issuers and
ClusterIssuers. A failed issuance is failed (kstatus says in progress), a
Certificate cert-manager has not looked at yet is in progress (kstatus
says current). Same verdicts and messages as the Rust original; its suite
passes against this port unchanged."""

from plumbline_policy import GroupKind, Health, current, export, failed, in_progress

GROUP = "cert-manager.io"


def ready(live, waiting):
    """``(condition, None)``, or ``(None, verdict)`` when ``Ready`` is
    missing or was written for an older generation."""
    condition = live.condition("Ready")
    if condition is None:
        return None, in_progress(waiting)
    observed, generation = condition.observed_generation, live.generation
    if observed is not None and generation is not None and observed < generation:
        return None, in_progress(
            "cert-manager has observed generation %d, not yet generation %d" % (observed, generation))
    return condition, None


def certificate(live):
    condition, verdict = ready(live, "waiting for cert-manager to issue the certificate")
    if verdict is not None:
        return verdict
    issuing = live.condition("Issuing")
    if issuing is not None:
        if issuing.is_true:
            return in_progress(issuing.describe())
        failed_before = live.get("status.lastFailureTime") is not None
        if issuing.status == "False" and (failed_before or issuing.reason == "Failed"):
            return failed(issuing.describe())
    if condition.status == "True":
        return current(condition.describe())
    if condition.status == "False" and condition.reason == "Failed":
        return failed(condition.describe())
    return in_progress(condition.describe())


def certificate_request(live):
    for name in ("Denied", "InvalidRequest"):
        condition = live.condition(name)
        if condition is not None and condition.is_true:
            return failed(condition.describe())
    condition, verdict = ready(live, "waiting for the issuer to sign the request")
    if verdict is not None:
        return verdict
    if condition.status == "True":
        return current(condition.describe())
    if condition.status == "False" and condition.reason in ("Failed", "Denied"):
        return failed(condition.describe())
    return in_progress(condition.describe())


def issuer(live):
    condition, verdict = ready(live, "waiting for cert-manager to check the issuer")
    if verdict is not None:
        return verdict
    if condition.status == "True":
        return current(condition.describe())
    if condition.status == "False":
        return failed(condition.describe())
    return in_progress(condition.describe())


class CertManagerHealth(Health):
    name = "cert-manager-health"
    version = "0.1.0"
    description = ("Health of cert-manager Certificates, CertificateRequests, Issuers and "
                   "ClusterIssuers: a failed issuance is failed, not in progress.")

    def kinds(self):
        return [GroupKind(GROUP, kind)
                for kind in ("Certificate", "CertificateRequest", "Issuer", "ClusterIssuer")]

    def assess(self, live, desired, ctx):
        if live.kind == "Certificate":
            return certificate(live)
        if live.kind == "CertificateRequest":
            return certificate_request(live)
        return issuer(live)


export(CertManagerHealth, globals())
