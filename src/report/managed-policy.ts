/** Reads the document of a managed IAM policy attached to a role (its default version). */
import { GetPolicyCommand, GetPolicyVersionCommand } from '@aws-sdk/client-iam';
import type { AwsClients } from '../aws/clients.js';
import { withAwsErrors } from '../aws/errors.js';
import { parsePolicyDocument, type PolicyDocument } from '../aws/policies.js';

export async function readManagedPolicy(
  aws: AwsClients,
  arn: string,
): Promise<PolicyDocument | undefined> {
  const resource = `managed policy ${arn}`;
  const policy = await withAwsErrors({ action: 'iam:GetPolicy', resource }, () =>
    aws.iam.send(new GetPolicyCommand({ PolicyArn: arn })),
  );
  const versionId = policy.Policy?.DefaultVersionId;
  if (!versionId) return undefined;
  const version = await withAwsErrors({ action: 'iam:GetPolicyVersion', resource }, () =>
    aws.iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: versionId })),
  );
  const text = version.PolicyVersion?.Document;
  return text ? parsePolicyDocument(text) : undefined;
}
