// Who is asking: the identity every read and write is decided on.
export const ROLES = ['editor', 'viewer', 'facilitator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Viewer {
  agency: string;
  role: Role;
  /** Token subject: the person or system acting for the agency. */
  subject: string;
}

/** `AGENCY/subject`, as recorded in created_by / updated_by. */
export const actorOf = (viewer: Viewer) => `${viewer.agency}/${viewer.subject}`;

export const canEdit = (viewer: Viewer) => viewer.role === 'editor' || viewer.role === 'admin';
