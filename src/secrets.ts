/**
 * A process-wide list of secret values (API private keys, client secrets, tokens, AWS secret keys).
 * Everything the tool prints or writes passes through `redact`, so a secret that slips into an error
 * message or a debug trace is masked before it reaches a terminal, a log or a file.
 */
const secrets = new Set<string>();

const MASK = '****';

/** Registers a value that must never be shown. Short values are ignored to avoid masking noise. */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 6) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  // Authorization headers and bearer tokens never leave the process, whoever built the string.
  out = out.replace(/(authorization["']?\s*[:=]\s*["']?)(digest|bearer|basic)\s+[^"'\n]*/gi, `$1$2 ${MASK}`);
  return out;
}

/** Test seam: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
}
