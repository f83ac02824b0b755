/** Projects (Atlas "groups"), 2023-01-01 (NOTES sections 1b and 8). */
import type { AtlasClient } from './http.js';
import { API, groupPath } from './paths.js';
import { ProjectSchema, type Project } from './types.js';

export const PROJECTS_VERSION = '2023-01-01';

/** Every project the credentials can see. */
export function listProjects(client: AtlasClient): Promise<Project[]> {
  return client.paginate<Project>({
    path: `${API}/groups`,
    version: PROJECTS_VERSION,
    schema: ProjectSchema,
  });
}

export function getProject(client: AtlasClient, groupId: string): Promise<Project> {
  return client.request<Project>({
    method: 'GET',
    path: groupPath(groupId),
    version: PROJECTS_VERSION,
    schema: ProjectSchema,
  });
}
