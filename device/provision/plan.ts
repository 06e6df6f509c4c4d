/**
 * What provisioning and deprovisioning must do, decided from what exists (in AWS IoT and on disk)
 * without doing anything: pure, so every case of a re-run or a half-finished earlier run is tested
 * without AWS. run.ts observes, asks for a plan, and carries it out step by step.
 */

/** What the stack's outputs name for devices. */
export interface StackDevice {
  readonly stackName: string;
  readonly policyName: string;
  readonly roleAlias: string;
  readonly recordsStreamName: string;
}

/** A certificate as AWS IoT knows it. */
export interface RegisteredCertificate {
  readonly id: string;
  readonly arn: string;
  /** ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, ... */
  readonly status: string;
  readonly policies: readonly string[];
}

export interface ProvisionObserved {
  readonly stack: StackDevice;
  readonly thingExists: boolean;
  readonly thingPrincipals: readonly string[];
  readonly keyOnDisk: boolean;
  /** The certificate file on disk: its id and whether it certifies the key on disk. */
  readonly certificateOnDisk: { readonly id: string; readonly matchesKey: boolean } | undefined;
  /** AWS IoT's record of the certificate on disk; undefined when it has none. */
  readonly registered: RegisteredCertificate | undefined;
}

export type ProvisionStep =
  | { readonly kind: 'create-thing' }
  | { readonly kind: 'generate-key'; readonly reason: string }
  | { readonly kind: 'create-certificate' }
  | { readonly kind: 'activate-certificate' }
  | { readonly kind: 'attach-policy'; readonly policyName: string }
  | { readonly kind: 'attach-thing-principal' }
  | { readonly kind: 'write-files' };

export interface ProvisionPlan {
  readonly steps: readonly ProvisionStep[];
  /** What is reused as it is, for the report. */
  readonly reused: readonly string[];
}

export function planProvision(thingName: string, o: ProvisionObserved): ProvisionPlan {
  const steps: ProvisionStep[] = [];
  const reused: string[] = [];
  if (o.thingExists) reused.push(`thing ${thingName}`);
  else steps.push({ kind: 'create-thing' });

  const usable =
    o.certificateOnDisk?.matchesKey === true &&
    o.registered !== undefined &&
    (o.registered.status === 'ACTIVE' || o.registered.status === 'INACTIVE');
  if (usable && o.registered !== undefined) {
    reused.push(`certificate ${o.registered.id}`);
    if (o.registered.status === 'INACTIVE') steps.push({ kind: 'activate-certificate' });
    if (o.registered.policies.includes(o.stack.policyName))
      reused.push(`policy ${o.stack.policyName} attachment`);
    else steps.push({ kind: 'attach-policy', policyName: o.stack.policyName });
    if (o.thingPrincipals.includes(o.registered.arn)) reused.push(`certificate attachment to ${thingName}`);
    else steps.push({ kind: 'attach-thing-principal' });
  } else {
    // A key without a certificate is what an interrupted run leaves: certify it. A certificate that
    // AWS IoT no longer knows, revoked, or not of this key means a new key, never a reused one.
    if (!o.keyOnDisk) steps.push({ kind: 'generate-key', reason: 'no device key yet' });
    else if (o.certificateOnDisk !== undefined) {
      const reason = !o.certificateOnDisk.matchesKey
        ? 'the certificate on disk is not of the key on disk'
        : o.registered === undefined
          ? `certificate ${o.certificateOnDisk.id} is not registered in AWS IoT`
          : `certificate ${o.registered.id} is ${o.registered.status}`;
      steps.push({ kind: 'generate-key', reason });
    } else reused.push('device key (no certificate yet)');
    steps.push(
      { kind: 'create-certificate' },
      { kind: 'attach-policy', policyName: o.stack.policyName },
      { kind: 'attach-thing-principal' },
    );
  }
  steps.push({ kind: 'write-files' });
  return { steps, reused };
}

/** A principal attached to the thing, with what else holds it. */
export interface AttachedPrincipal {
  readonly arn: string;
  /** Things other than this one the principal is attached to. */
  readonly otherThings: readonly string[];
  /** Set for certificates (AWS IoT knows their status and policies). */
  readonly certificate: RegisteredCertificate | undefined;
}

export interface DeprovisionObserved {
  readonly thingExists: boolean;
  readonly principals: readonly AttachedPrincipal[];
  /** The certificate on disk when it is registered but attached to no thing (an interrupted run). */
  readonly detachedLocal: RegisteredCertificate | undefined;
  /** Files provisioning wrote that are still there. */
  readonly files: readonly string[];
}

export type DeprovisionStep =
  | { readonly kind: 'detach-thing-principal'; readonly arn: string }
  | { readonly kind: 'detach-policy'; readonly arn: string; readonly policyName: string }
  | { readonly kind: 'deactivate-certificate'; readonly id: string }
  | { readonly kind: 'delete-certificate'; readonly id: string }
  | { readonly kind: 'delete-thing' }
  | { readonly kind: 'remove-file'; readonly path: string };

export interface DeprovisionPlan {
  readonly steps: readonly DeprovisionStep[];
  /** Principals detached but kept because another thing still uses them. */
  readonly kept: readonly string[];
}

function retire(certificate: RegisteredCertificate): DeprovisionStep[] {
  return [
    ...certificate.policies.map(
      (policyName): DeprovisionStep => ({ kind: 'detach-policy', arn: certificate.arn, policyName }),
    ),
    ...(certificate.status === 'ACTIVE'
      ? [{ kind: 'deactivate-certificate', id: certificate.id } as const]
      : []),
    { kind: 'delete-certificate', id: certificate.id },
  ];
}

/**
 * Detaches every principal from the thing (AWS IoT deletes only a bare thing); a certificate that
 * no other thing uses is this device's and is retired: policies detached, deactivated, deleted.
 */
export function planDeprovision(o: DeprovisionObserved): DeprovisionPlan {
  const steps: DeprovisionStep[] = [];
  const kept: string[] = [];
  for (const principal of o.principals) {
    steps.push({ kind: 'detach-thing-principal', arn: principal.arn });
    if (principal.otherThings.length > 0 || principal.certificate === undefined) kept.push(principal.arn);
    else steps.push(...retire(principal.certificate));
  }
  if (o.detachedLocal !== undefined && !o.principals.some((p) => p.arn === o.detachedLocal?.arn)) {
    steps.push(...retire(o.detachedLocal));
  }
  if (o.thingExists) steps.push({ kind: 'delete-thing' });
  for (const path of o.files) steps.push({ kind: 'remove-file', path });
  return { steps, kept };
}
