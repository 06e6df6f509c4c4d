import { describe, expect, it } from 'vitest';
import { type ProvisionObserved, planDeprovision, planProvision } from '../../../device/provision/plan.ts';

const stack = { stackName: 'tributary-dev', policyName: 'p', roleAlias: 'a', recordsStreamName: 'r' };
const cert = { id: 'c1', arn: 'arn:cert/c1', status: 'ACTIVE', policies: ['p'] };
const kinds = (steps: readonly { kind: string }[]) => steps.map((s) => s.kind);

describe('provision plan', () => {
  const fresh: ProvisionObserved = {
    stack,
    thingExists: false,
    thingPrincipals: [],
    keyOnDisk: false,
    certificateOnDisk: undefined,
    registered: undefined,
  };

  it('does everything on a new device and nothing but the files once all is in place', () => {
    expect(kinds(planProvision('t', fresh).steps)).toEqual([
      'create-thing',
      'generate-key',
      'create-certificate',
      'attach-policy',
      'attach-thing-principal',
      'write-files',
    ]);
    const done = planProvision('t', {
      ...fresh,
      thingExists: true,
      thingPrincipals: [cert.arn],
      keyOnDisk: true,
      certificateOnDisk: { id: 'c1', matchesKey: true },
      registered: cert,
    });
    expect(kinds(done.steps)).toEqual(['write-files']);
  });

  it('certifies a key an interrupted run left, and makes a new key for a revoked or unknown certificate', () => {
    const keyOnly = planProvision('t', { ...fresh, thingExists: true, keyOnDisk: true });
    expect(kinds(keyOnly.steps)).not.toContain('generate-key');
    expect(kinds(keyOnly.steps)).toContain('create-certificate');
    for (const registered of [undefined, { ...cert, status: 'REVOKED' }]) {
      const plan = planProvision('t', {
        ...fresh,
        keyOnDisk: true,
        certificateOnDisk: { id: 'c1', matchesKey: true },
        registered,
      });
      expect(kinds(plan.steps).slice(0, 3)).toEqual(['create-thing', 'generate-key', 'create-certificate']);
    }
  });
});

describe('deprovision plan', () => {
  it("retires the thing's own certificate, keeps one another thing uses, and is empty when nothing is left", () => {
    const plan = planDeprovision({
      thingExists: true,
      principals: [
        { arn: cert.arn, otherThings: [], certificate: cert },
        {
          arn: 'arn:cert/shared',
          otherThings: ['other'],
          certificate: { ...cert, id: 's', arn: 'arn:cert/shared' },
        },
      ],
      detachedLocal: undefined,
      files: ['/etc/tributary/agent.json'],
    });
    expect(kinds(plan.steps)).toEqual([
      'detach-thing-principal',
      'detach-policy',
      'deactivate-certificate',
      'delete-certificate',
      'detach-thing-principal',
      'delete-thing',
      'remove-file',
    ]);
    expect(plan.kept).toEqual(['arn:cert/shared']);
    expect(
      planDeprovision({ thingExists: false, principals: [], detachedLocal: undefined, files: [] }).steps,
    ).toEqual([]);
  });
});
