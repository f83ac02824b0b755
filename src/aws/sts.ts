/** Who the AWS credentials in use belong to. */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients } from './clients.js';
import { withAwsErrors } from './errors.js';

export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
  /** aws, aws-cn or aws-us-gov, taken from the caller's ARN; used to build other ARNs. */
  partition: string;
}

export async function getCallerIdentity(clients: AwsClients): Promise<CallerIdentity> {
  const answer = await withAwsErrors({ action: 'sts:GetCallerIdentity' }, () =>
    clients.sts.send(new GetCallerIdentityCommand({})),
  );
  const arn = answer.Arn ?? '';
  return {
    account: answer.Account ?? '',
    arn,
    userId: answer.UserId ?? '',
    partition: arn.split(':')[1] || 'aws',
  };
}
