/**
 * The recurring charges a PrivateLink export setup brings, as MongoDB publishes them. Prices change:
 * the date says when they were last checked against MongoDB's billing pages.
 */
export const PRICES_CHECKED_ON = '2026-12-03';

export function chargesNotice(): string {
  return [
    `Charges this setup brings (MongoDB's published prices, checked ${PRICES_CHECKED_ON}; see your Atlas invoice for yours):`,
    '  - Object-storage private endpoint: an hourly charge for each region with a private endpoint, which varies',
    '    by region, plus a charge for the traffic it processes (Atlas billing: "Additional Services", private endpoints).',
    '  - Snapshot export: $0.125 per GB exported to S3, plus AWS data transfer (Atlas billing: "Data Transfer").',
    '  - AWS bills the S3 storage and requests of the bucket, and KMS requests with SSE-KMS.',
  ].join('\n');
}
