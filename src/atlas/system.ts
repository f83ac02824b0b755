/** GET /api/atlas/v2: the cheapest credential check (NOTES section 8). */
import type { AtlasClient } from './http.js';
import { API } from './paths.js';
import { SystemStatusSchema, type SystemStatus } from './types.js';

export const SYSTEM_VERSION = '2023-01-01';

export function getSystemStatus(client: AtlasClient): Promise<SystemStatus> {
  return client.request<SystemStatus>({
    method: 'GET',
    path: API,
    version: SYSTEM_VERSION,
    schema: SystemStatusSchema,
  });
}
