// cert-manager-health, ported from policies/cert-manager-health: the health
// of cert-manager Certificates, CertificateRequests, Issuers and
// ClusterIssuers. A failed issuance is failed (kstatus says in progress), a
// Certificate cert-manager has not looked at yet is in progress (kstatus
// says current). Same verdicts and messages as the Rust original; its suite
// passes against this port unchanged.

import {
  condition,
  defineHealth,
  defineMetadata,
  describeCondition,
  generation,
  get,
  health as verdict,
} from "plumbline-policy";

export const metadata = defineMetadata({
  name: "cert-manager-health",
  version: "0.1.0",
  description:
    "Health of cert-manager Certificates, CertificateRequests, Issuers and ClusterIssuers: " +
    "a failed issuance is failed, not in progress.",
});

/** `{ready}`, or `{verdict}` when Ready is missing or for an older generation. */
function ready(live, waiting) {
  const found = condition(live, "Ready");
  if (found === undefined) return { verdict: verdict.inProgress(waiting) };
  const observed = Number.isInteger(found.observedGeneration) ? found.observedGeneration : undefined;
  const wanted = generation(live);
  if (observed !== undefined && wanted !== undefined && observed < wanted) {
    return {
      verdict: verdict.inProgress(`cert-manager has observed generation ${observed}, not yet generation ${wanted}`),
    };
  }
  return { ready: found };
}

function certificate(live) {
  const { ready: r, verdict: early } = ready(live, "waiting for cert-manager to issue the certificate");
  if (early) return early;
  const issuing = condition(live, "Issuing");
  if (issuing !== undefined) {
    if (issuing.status === "True") return verdict.inProgress(describeCondition(issuing));
    const failedBefore = get(live, "status.lastFailureTime") !== undefined;
    if (issuing.status === "False" && (failedBefore || issuing.reason === "Failed")) {
      return verdict.failed(describeCondition(issuing));
    }
  }
  if (r.status === "True") return verdict.current(describeCondition(r));
  if (r.status === "False" && r.reason === "Failed") return verdict.failed(describeCondition(r));
  return verdict.inProgress(describeCondition(r));
}

function certificateRequest(live) {
  for (const type of ["Denied", "InvalidRequest"]) {
    const found = condition(live, type);
    if (found?.status === "True") return verdict.failed(describeCondition(found));
  }
  const { ready: r, verdict: early } = ready(live, "waiting for the issuer to sign the request");
  if (early) return early;
  if (r.status === "True") return verdict.current(describeCondition(r));
  if (r.status === "False" && (r.reason === "Failed" || r.reason === "Denied")) {
    return verdict.failed(describeCondition(r));
  }
  return verdict.inProgress(describeCondition(r));
}

function issuer(live) {
  const { ready: r, verdict: early } = ready(live, "waiting for cert-manager to check the issuer");
  if (early) return early;
  if (r.status === "True") return verdict.current(describeCondition(r));
  if (r.status === "False") return verdict.failed(describeCondition(r));
  return verdict.inProgress(describeCondition(r));
}

export const health = defineHealth({
  kinds: ["Certificate", "CertificateRequest", "Issuer", "ClusterIssuer"].map((kind) => ({
    group: "cert-manager.io",
    kind,
  })),
  assess(live) {
    if (live.kind === "Certificate") return certificate(live);
    if (live.kind === "CertificateRequest") return certificateRequest(live);
    return issuer(live);
  },
});
