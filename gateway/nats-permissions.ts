// Generates the nats-server `authorization` block that closes internal subjects to everyone
// but gateways and cells. Platform services get the public front door only: publish to
// cellkv.api.v1.> and receive replies on their inbox.
//
// Security note: every user here shares the `_INBOX.>` reply space by default, so a platform
// user could subscribe to replies meant for others. Give each platform service its own inbox
// prefix (`platformInboxPrefix`, with the client's `inboxPrefix` option set to match).

export const INTERNAL_SUBJECTS = ['cellkv.raft.>', 'cellkv.node.>', 'cellkv.dir', 'cellkv.admin.>'] as const;
export const API_SUBJECTS = 'cellkv.api.v1.>';

export interface NatsPermissionsOptions {
  readonly gatewayPassword: string;
  readonly cellPassword: string;
  readonly platformPassword: string;
  readonly gatewayUser?: string;
  readonly cellUser?: string;
  readonly platformUser?: string;
  /** Inbox prefix of the platform user's replies (default `_INBOX`). */
  readonly platformInboxPrefix?: string;
}

// Quoted config strings: refuse characters that could end the string or start a variable.
const SAFE = /^[\x21-\x7e]+$/;
function quote(s: string, what: string): string {
  if (!SAFE.test(s) || /["\\$]/.test(s)) throw new Error(`${what} must be visible ASCII without ", \\ or $`);
  return `"${s}"`;
}

function list(subjects: readonly string[]): string {
  return `[${subjects.map((s) => quote(s, 'subject')).join(', ')}]`;
}

function user(name: string, password: string, publish: readonly string[], subscribe: readonly string[]): string {
  return [
    '    {',
    `      user: ${quote(name, 'user')}`,
    `      password: ${quote(password, `password of ${name}`)}`,
    '      permissions: {',
    `        publish: { allow: ${list(publish)} }`,
    `        subscribe: { allow: ${list(subscribe)} }`,
    '      }',
    '    }',
  ].join('\n');
}

/** The nats-server config snippet (an `authorization { users = [...] }` block). */
export function natsPermissionsConfig(o: NatsPermissionsOptions): string {
  for (const [what, pw] of [['gateway', o.gatewayPassword], ['cell', o.cellPassword], ['platform', o.platformPassword]] as const) {
    if (pw.length < 12) throw new Error(`the ${what} password must be at least 12 characters`);
  }
  const internal = [...INTERNAL_SUBJECTS, '_INBOX.>'];
  const inbox = `${o.platformInboxPrefix ?? '_INBOX'}.>`;
  return [
    'authorization {',
    '  users = [',
    // Gateways: internal subjects, plus serving the front door (replies go to _INBOX.>).
    user(o.gatewayUser ?? 'gateway', o.gatewayPassword, internal, [...internal, API_SUBJECTS]),
    user(o.cellUser ?? 'cell', o.cellPassword, internal, internal),
    user(o.platformUser ?? 'platform', o.platformPassword, [API_SUBJECTS], [inbox]),
    '  ]',
    '}',
    '',
  ].join('\n');
}
