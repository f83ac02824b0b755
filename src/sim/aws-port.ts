/**
 * The simulator's view of AWS: the functions of aws-checks.ts, gathered in one object so handlers
 * receive them through their context.
 */
import * as awsChecks from './aws-checks.js';

export type AwsChecks = Pick<
  typeof awsChecks,
  | 'checkAssumeRole'
  | 'checkExportPermissions'
  | 'loadExportAccess'
  | 'bucketRegion'
  | 'writePermissionCheck'
  | 'writeExportFiles'
>;

export function loadAwsChecks(): AwsChecks {
  return awsChecks;
}
