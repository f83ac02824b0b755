/**
 * The recurring charges a PrivateLink export setup brings, as MongoDB publishes them. Prices change:
 * the date says when they were last checked against MongoDB's billing pages.
 */
export const PRICES_CHECKED_ON = '2026-12-03';

export interface ChargesOptions {
  /** What happens to the private endpoint: a new one is created, or an existing one is used. */
  endpoint: { create: true } | { create: false; id: string };
  /** The bucket is encrypted with a KMS key (KMS requests are billed). */
  kms: boolean;
  /** Columns to wrap to (the terminal's width, 80 without a terminal). */
  width: number;
}

const EXPORT_CHARGE =
  'Snapshot export: $0.125 per GB exported to S3, plus AWS data transfer (Atlas billing: "Data Transfer").';

/** For a rerun whose only new charges are those of exports (auto-export turned on, or an export now). */
export function exportChargesNotice(width: number): string {
  return [
    ...wrap(
      `Charges this change brings (MongoDB's published prices, checked ${PRICES_CHECKED_ON}; see your Atlas invoice for yours):`,
      width,
      '',
      '',
    ),
    ...wrap(EXPORT_CHARGE, width, '  - ', '    '),
  ].join('\n');
}

export function chargesNotice(options: ChargesOptions): string {
  const items = [
    options.endpoint.create
      ? 'Object-storage private endpoint: an hourly charge for each region with a private endpoint, which varies by region, plus a charge for the traffic it processes (Atlas billing: "Additional Services", private endpoints).'
      : `Object-storage private endpoint: the existing endpoint ${options.endpoint.id} is used, so no new hourly charge; the traffic it processes is billed (Atlas billing: "Additional Services", private endpoints).`,
    EXPORT_CHARGE,
    options.kms
      ? 'AWS bills the S3 storage and requests of the bucket, and the KMS requests of its SSE-KMS encryption.'
      : 'AWS bills the S3 storage and requests of the bucket.',
  ];
  return [
    ...wrap(
      `Charges this setup brings (MongoDB's published prices, checked ${PRICES_CHECKED_ON}; see your Atlas invoice for yours):`,
      options.width,
      '',
      '',
    ),
    ...items.flatMap((item) => wrap(item, options.width, '  - ', '    ')),
  ].join('\n');
}

/** Word-wraps one paragraph to `width` columns: `first` before the first line, `rest` before the others. */
export function wrap(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}
