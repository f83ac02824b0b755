import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, redact, registerSecret } from '../src/secrets.js';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/** A Digest header as an HTTP client computes it (RFC 7616, qop=auth), for a private key we never register. */
function digestHeader(
  publicKey: string,
  privateKey: string,
  uri: string,
): { header: string; secrets: string[] } {
  const realm = 'MMS Public API';
  const nonce = randomBytes(16).toString('base64');
  const cnonce = randomBytes(8).toString('hex');
  const ha1 = md5(`${publicKey}:${realm}:${privateKey}`);
  const ha2 = md5(`POST:${uri}`);
  const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
  const header = `Digest username="${publicKey}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm="MD5", qop=auth, nc=00000001, cnonce="${cnonce}"`;
  return { header, secrets: [publicKey, nonce, cnonce, response] };
}

const body = '{"providerName":"AWS","roleId":"66a1b2c3d4e5f6a7b8c9d0e1"}';

describe('redact: Authorization values', () => {
  afterEach(() => clearSecrets());

  it('masks a Digest header and keeps the body that follows on the same line', () => {
    const { header, secrets } = digestHeader(
      'abcdefgh',
      'private-key-never-registered',
      '/api/atlas/v2/groups/g1/cloudProviderAccess?x=1',
    );
    for (const line of [
      `POST /api/atlas/v2/groups/g1/cloudProviderAccess authorization=${header} ${body}`,
      `headers {"authorization":${JSON.stringify(header)}} body ${body}`,
      `{ authorization: '${header}', accept: 'application/json' } ${body}`,
      `Authorization: ${header}\n${body}`,
    ]) {
      const out = redact(line);
      for (const secret of secrets) expect(out).not.toContain(secret);
      expect(out).toMatch(/authorization["']?\s*[:=]\s*["']?Digest \*\*\*\*/i);
      expect(out).toContain(body);
    }
    const jsonLine = redact(`headers {"authorization":${JSON.stringify(header)}} body ${body}`);
    expect(jsonLine).toBe(`headers {"authorization":"Digest ****"} body ${body}`);
    expect(redact(`{ authorization: '${header}', accept: 'application/json' }`)).toBe(
      `{ authorization: 'Digest ****', accept: 'application/json' }`,
    );
  });

  it('masks a Bearer token (a JWT) and nothing after it', () => {
    const segment = () => randomBytes(24).toString('base64url');
    const token = `${segment()}.${segment()}.${segment()}`;
    expect(redact(`authorization: Bearer ${token} ${body}`)).toBe(
      `authorization: Bearer **** ${body}`,
    );
    expect(redact(`{"authorization":"Bearer ${token}","accept":"application/json"}`)).toBe(
      '{"authorization":"Bearer ****","accept":"application/json"}',
    );
    expect(redact(`the token Bearer ${token} was refused`)).toBe(
      'the token Bearer **** was refused',
    );
    expect(redact('a bearer token was refused')).toBe('a bearer token was refused');
  });

  it('masks a Basic credential (base64 with padding) and nothing after it', () => {
    const basic = Buffer.from('mdb_sa_id_0123456789abcdef:mdb_sa_sk_secret-value').toString(
      'base64',
    );
    expect(basic.endsWith('=')).toBe(true);
    const out = redact(
      `POST /api/oauth/token authorization=Basic ${basic} grant_type=client_credentials ${body}`,
    );
    expect(out).toBe(
      `POST /api/oauth/token authorization=Basic **** grant_type=client_credentials ${body}`,
    );
    expect(out).not.toContain(basic.slice(0, 12));
  });

  it('masks the credential of other schemes and of a bare value', () => {
    const sigv4 =
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef';
    const out = redact(`authorization: ${sigv4} ${body}`);
    expect(out).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(out).not.toContain('0123456789abcdef0123456789abcdef');
    expect(out).toContain(body);
    expect(redact('authorization=c2VjcmV0LXRva2Vu')).toBe('authorization=****');
    expect(redact('authorization: c2VjcmV0LXRva2Vu rest')).not.toContain('c2VjcmV0LXRva2Vu');
  });

  it('still masks registered secrets anywhere', () => {
    registerSecret('private-key-1234');
    expect(redact('key private-key-1234 here')).toBe('key **** here');
  });
});
