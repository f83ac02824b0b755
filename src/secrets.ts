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

// Authorization values ---------------------------------------------------------------------------
// Only the credential is masked, so whatever follows on the same line (a request body, other
// headers) stays readable: a Bearer/Basic token's characters (RFC 7235 token68), or a Digest
// header's `key=value` list, whose values may be quoted plainly or JSON-escaped (\"…\").

/** `authorization: `, `authorization=`, `"authorization":"`, `Authorization: '` … up to the scheme. */
const HEADER_NAME = String.raw`(authorization["'\x60]?\s*[:=]\s*["'\x60]?)`;
const TOKEN68 = String.raw`[A-Za-z0-9\-._~+/]+=*`;
const DIGEST_VALUE = String.raw`(?:"[^"\n]*"|\\"(?:[^"\\\n]|\\[^"\n])*\\"|[^\s,"'\x60\\{}\[\]]+)`;
const DIGEST_PAIR = String.raw`[A-Za-z][\w-]*\s*=\s*${DIGEST_VALUE}`;
const DIGEST_LIST = String.raw`${DIGEST_PAIR}(?:\s*,\s*${DIGEST_PAIR})*`;

const CREDENTIAL = String.raw`(?:${DIGEST_LIST}|${TOKEN68}|[^\s"'\x60,{}]+)`;

/**
 * Known schemes keep their name (`Digest ****`). After an unknown word the value may be a scheme and
 * its credential or a bare credential and the next word: both are masked, as being safe beats being tidy.
 */
const AUTHORIZATION = new RegExp(
  String.raw`${HEADER_NAME}(?:(bearer|basic)\s+${TOKEN68}|(digest)\s+${CREDENTIAL}|[A-Za-z][\w-]*\s+${CREDENTIAL}|${TOKEN68})`,
  'gi',
);
/** A bearer token outside an Authorization header (an error message quoting one, say); prose is left alone. */
const LOOSE_BEARER = new RegExp(String.raw`\bBearer\s+(?=[A-Za-z0-9\-._~+/]{16})${TOKEN68}`, 'g');

function maskAuthorization(text: string): string {
  return text
    .replace(AUTHORIZATION, (_match, name: string, token?: string, digest?: string) => {
      const scheme = token ?? digest;
      return scheme ? `${name}${scheme} ${MASK}` : `${name}${MASK}`;
    })
    .replace(LOOSE_BEARER, `Bearer ${MASK}`);
}

/** The userinfo of a URL (`https://user:password@host`): everything between `//` and the `@`. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'\x60]+@/gi;

/** The URLs in `text` with their userinfo (user name and password) masked: `https://****@host`. */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, `$1${MASK}@`);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  // Authorization headers, bearer tokens and credentials inside URLs never leave the process,
  // whoever built the string.
  return maskUrlCredentials(maskAuthorization(out));
}

/** Test seam: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
}
