// The dashboard's one door to slipway: the session (POST /auth/login, /auth/refresh,
// /auth/logout), GraphQL over HTTP (POST /graphql) and subscriptions over WebSocket
// (graphql-transport-ws at /graphql). All on the page's own origin.
//
// The access token lives in memory only. Plain HTTP requests would also pass with the
// HttpOnly slipway_access cookie, but a WebSocket's connection_init must carry the token
// itself, so after a reload the dashboard asks /auth/refresh (the refresh cookie) for one.

import { reactive } from 'vue'

export interface Membership {
  workspace: string
  role: 'USER' | 'ADMIN'
}
export interface SessionUser {
  id: string
  email: string
  name: string
  workspaces: Membership[]
}

export const session = reactive({
  token: '' as string,
  user: null as SessionUser | null,
  workspace: localStorage.getItem('slipway.workspace') ?? '',
  names: {} as Record<string, string>, // workspace id → name, for the header's select
  // Where apps answer (platformConfig.ingressUrl, e.g. http://localhost:8000); null when
  // no ingress runs, so there is no URL to link to.
  ingressUrl: null as string | null,
})

// An error the dashboard shows where it happened: the server's message, and for GraphQL
// its extensions.code.
export class ApiError extends Error {
  code: string
  constructor(message: string, code = '') {
    super(message)
    this.code = code
  }
}

async function authPost(path: string, body?: unknown): Promise<Response> {
  return fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const j = await res.json()
    if (j?.error?.message) return new ApiError(j.error.message, j.error.code ?? '')
  } catch {
    /* not JSON: say the status */
  }
  return new ApiError(`${res.status} ${res.statusText}`)
}

function takeSession(j: { accessToken: string }) {
  session.token = j.accessToken
}

export async function login(email: string, password: string): Promise<void> {
  const res = await authPost('/auth/login', { email, password })
  if (res.status === 429) {
    const after = res.headers.get('Retry-After')
    throw new ApiError(`Too many attempts; try again in ${after ?? 'a few'} seconds.`, 'rate_limited')
  }
  if (!res.ok) throw await errorOf(res)
  takeSession(await res.json())
  await loadMe()
}

// A new access token from the refresh cookie; false when there is no session.
export async function refresh(): Promise<boolean> {
  const res = await authPost('/auth/refresh')
  if (!res.ok) return false
  takeSession(await res.json())
  return true
}

export async function logout(): Promise<void> {
  await authPost('/auth/logout').catch(() => undefined)
  session.token = ''
  session.user = null
  session.ingressUrl = null
}

let restoring: Promise<boolean> | null = null

// Whether there is a session, restoring it from the refresh cookie after a reload.
export function ensureSession(): Promise<boolean> {
  if (session.token && session.user) return Promise.resolve(true)
  restoring ??= (async () => {
    try {
      if (!session.token && !(await refresh())) return false
      await loadMe()
      return true
    } catch {
      return false
    } finally {
      restoring = null
    }
  })()
  return restoring
}

export async function loadMe(): Promise<void> {
  const d = await gql<{
    me: SessionUser
    workspaces: { id: string; name: string }[]
    platformConfig: { ingressUrl: string | null }
  }>(
    `{ me { id email name workspaces { workspace role } } workspaces { id name }
       platformConfig { ingressUrl } }`,
    undefined,
    true,
  )
  session.ingressUrl = d.platformConfig.ingressUrl
  session.user = d.me
  session.names = Object.fromEntries(d.workspaces.map((w) => [w.id, w.name]))
  const known = d.me.workspaces.some((m) => m.workspace === session.workspace)
  if (!known) setWorkspace(d.me.workspaces[0]?.workspace ?? '')
}

export function setWorkspace(id: string) {
  session.workspace = id
  if (id) localStorage.setItem('slipway.workspace', id)
  else localStorage.removeItem('slipway.workspace')
}

export function role(): 'USER' | 'ADMIN' | '' {
  return session.user?.workspaces.find((m) => m.workspace === session.workspace)?.role ?? ''
}

// <personal>: without X-Slipway-Workspace, so a remembered workspace the user has left
// (or another user's, on a shared browser) cannot fail the request.
function headers(personal: boolean): Record<string, string> {
  const h: Record<string, string> = { 'Content-Type': 'application/json' }
  if (session.token) h.Authorization = `Bearer ${session.token}`
  if (session.workspace && !personal) h['X-Slipway-Workspace'] = session.workspace
  return h
}

async function post(query: string, variables: Record<string, unknown> | undefined, personal: boolean): Promise<Response> {
  return fetch('/graphql', {
    method: 'POST',
    credentials: 'same-origin',
    headers: headers(personal),
    body: JSON.stringify({ query, variables }),
  })
}

// Runs a query or mutation; throws ApiError with the first error's message and code.
export async function gql<T>(query: string, variables?: Record<string, unknown>, personal = false): Promise<T> {
  let res = await post(query, variables, personal)
  if (res.status === 401 && (await refresh())) res = await post(query, variables, personal)
  if (res.status === 401) {
    session.token = ''
    session.user = null
    throw new ApiError('Your session ended; log in again.', 'UNAUTHENTICATED')
  }
  let j: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] }
  try {
    j = await res.json()
  } catch {
    throw await errorOf(res)
  }
  if (j.errors?.length) {
    const e = j.errors[0]
    throw new ApiError(e.message, e.extensions?.code ?? '')
  }
  if (j.data === undefined) throw new ApiError(`${res.status} ${res.statusText}`)
  return j.data
}

export interface Subscription {
  close(): void
}

// One subscription on its own WebSocket: onNext for each result, onEnd once when it ends
// (error: why, or null when the server completed it).
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  onNext: (data: T) => void,
  onEnd: (error: ApiError | null) => void,
): Subscription {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`
  const ws = new WebSocket(url, 'graphql-transport-ws')
  let ended = false
  const end = (e: ApiError | null) => {
    if (ended) return
    ended = true
    onEnd(e)
    if (ws.readyState <= WebSocket.OPEN) ws.close(1000)
  }
  ws.onopen = () => {
    const payload: Record<string, string> = { token: session.token }
    if (session.workspace) payload.workspace = session.workspace
    ws.send(JSON.stringify({ type: 'connection_init', payload }))
  }
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data as string)
    switch (m.type) {
      case 'connection_ack':
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }))
        break
      case 'ping':
        ws.send(JSON.stringify({ type: 'pong' }))
        break
      case 'next':
        if (m.payload?.errors?.length) {
          const e = m.payload.errors[0]
          end(new ApiError(e.message, e.extensions?.code ?? ''))
        } else if (m.payload?.data) {
          onNext(m.payload.data as T)
        }
        break
      case 'error': {
        const e = Array.isArray(m.payload) ? m.payload[0] : m.payload
        end(new ApiError(e?.message ?? 'subscription failed', e?.extensions?.code ?? ''))
        break
      }
      case 'complete':
        end(null)
        break
    }
  }
  ws.onclose = (ev) => {
    if (!ended) end(ev.code === 1000 ? null : new ApiError(`connection closed (${ev.code} ${ev.reason})`))
  }
  return { close: () => end(null) }
}

// An app's URL: its hostname on the ingress's scheme and port (the server says which once
// per login, in session.ingressUrl). Null when no ingress runs: the hostname leads nowhere.
export function appUrl(hostname: string): string | null {
  if (!session.ingressUrl) return null
  try {
    const u = new URL(session.ingressUrl)
    u.hostname = hostname
    u.pathname = '/'
    return u.href
  } catch {
    return null
  }
}

export function when(t: string | null | undefined): string {
  if (!t) return ''
  const d = new Date(t)
  return isNaN(d.getTime()) ? t : d.toLocaleString()
}
