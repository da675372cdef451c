// The shapes the dashboard reads (a subset of schema/*.graphql).

export interface Domain {
  hostname: string
  type: 'PLATFORM' | 'CUSTOM'
  dnsStatus: string
  tlsStatus: string
}
export interface Deployment {
  id: string
  imageTag: string | null
  active: boolean
  timestamp: string
  revision: string
  message: string
  author: string
  sourceCommitMessage: string | null
  sourceUrl: string | null
}
export interface Service {
  id: string
  name: string
  image: string | null
  port: number
  framework: string | null
  sourceUrl: string | null
  startCommand: string | null
  customStartCommand: string | null
  imageTag: string | null
  ready: boolean
  replicas: number
  syncStatus: string
  statusMessage: string | null
  scaling: { replicas: number; autoscaling: { enabled: boolean; minReplicas: number | null; maxReplicas: number | null; targetCPU: number | null } }
  domains: Domain[]
  deployments: Deployment[]
}
export interface DeployRun {
  id: string
  phase: string
  error: string | null
  startedAt: string | null
  finishedAt: string | null
  rolloutMessage: string | null
}

export const SERVICE_FIELDS = `id name image port framework sourceUrl startCommand customStartCommand imageTag
  ready replicas syncStatus statusMessage
  scaling { replicas autoscaling { enabled minReplicas maxReplicas targetCPU } }
  domains { hostname type dnsStatus tlsStatus }
  deployments { id imageTag active timestamp revision message author sourceCommitMessage sourceUrl }`

export const DEPLOY_FIELDS = `id phase error startedAt finishedAt rolloutMessage`

export const FINAL_PHASES = ['SUCCEEDED', 'FAILED', 'CANCELLED']
