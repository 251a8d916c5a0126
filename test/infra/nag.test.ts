/**
 * cdk-nag over every stack the app builds, in both fleet flavours: AwsSolutions, plus the
 * IMDSv2 rule from the NIST 800-53 R5 pack. Zero unacknowledged findings; every acknowledgment
 * in the code carries its reason.
 */
import type { App, CfnResource, PolicyValidationPluginReport } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NagMessageLevel, NagPack, rules } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.js';
import { newApp, stubBundle, TEST_IMAGE } from './support.js';

/** Just the NIST 800-53 R5 pack's IMDSv2 rule (the rest of that pack targets other controls). */
class Imdsv2Check extends NagPack {
  readonly name = 'Imdsv2Check';
  constructor(app: App) {
    super(app);
    this.packName = 'NIST.800.53.R5';
  }
  protected checkResource(node: CfnResource): void {
    this.applyRule({
      info: 'The EC2 instance does not have IMDSv2 enabled.',
      explanation: 'IMDSv2 uses session tokens, which blocks SSRF-style metadata theft.',
      level: NagMessageLevel.ERROR,
      rule: rules.ec2.EC2IMDSv2Enabled,
      node,
    });
  }
}

function findings(report: PolicyValidationPluginReport): string[] {
  return report.violations.flatMap((v) =>
    v.violatingResources.map(
      (r) => `${v.ruleName} at ${r.resourceLogicalId} (${r.templatePath}): ${v.description}`,
    ),
  );
}

describe.each(['fargate', 'ec2'] as const)('cdk-nag over the %s app', (fleet) => {
  const app = newApp({
    env: 'nag',
    flotilla: {
      environments: {
        nag: { fleet, removeDataOnDelete: fleet === 'ec2', changeNotifications: fleet === 'fargate' },
      },
    },
  });
  buildApp(app, { bundlePath: stubBundle(), image: TEST_IMAGE });

  it('has no unacknowledged AwsSolutions findings', () => {
    expect(findings(new AwsSolutionsChecks(app).validateScope(app))).toEqual([]);
  });

  it('requires IMDSv2 on every instance (NIST 800-53 R5 EC2IMDSv2Enabled)', () => {
    const report = new Imdsv2Check(app).validateScope(app);
    expect(findings(report)).toEqual([]);
  });
});
