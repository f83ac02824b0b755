/** Reads of what setup left in AWS, shared by the setup tests. */
import { GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { awsClientsFor } from '../helpers/sandbox.js';

/** The IAM role's inline permission policy (atlas-pl-export-s3), decoded JSON text. */
export async function permissionPolicyText(
  env: Record<string, string>,
  roleName: string,
): Promise<string> {
  const aws = await awsClientsFor(env);
  const answer = await aws.iam.send(
    new GetRolePolicyCommand({ RoleName: roleName, PolicyName: 'atlas-pl-export-s3' }),
  );
  return decodeURIComponent(answer.PolicyDocument!);
}
