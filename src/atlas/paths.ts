/** Path building for the Atlas Administration API v2 (every segment URL-encoded). */
export const API = '/api/atlas/v2';

export function groupPath(groupId: string, ...segments: string[]): string {
  return [API, 'groups', groupId, ...segments]
    .map((s, i) => (i === 0 ? s : encodeURIComponent(s)))
    .join('/');
}

export function clusterPath(groupId: string, clusterName: string, ...segments: string[]): string {
  return groupPath(groupId, 'clusters', clusterName, ...segments);
}
