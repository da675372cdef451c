// The dashboard's golden path in a real browser against the real binary: log in, make a
// project, add a service from a local git repository, follow its deploy log to SUCCEEDED,
// open the app through the ingress, change a variable and see the redeploy, deploy a new
// commit, roll back to the first release, read the service's logs. Prints TAP; exits
// non-zero when a step fails. A screenshot of each step goes to $SLIPWAY_TEST_OUT.
//
//   node tests/browser/golden.mjs      (SLIPWAY_BIN, default build/debug/bin/slipway)
//
// Needs what tests/integration/test_deploy.py needs (root, runc, nginx, the builder's base
// cache) plus /usr/bin/chromium and the dashboard built (make dashboard).
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, accessSync, constants } from 'node:fs'
import { createRequire } from 'node:module'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
// playwright-core is a devDependency of the dashboard, not of the repository's top.
const { chromium } = createRequire(join(ROOT, 'dashboard/package.json'))('playwright-core')

const BIN = resolve(process.env.SLIPWAY_BIN || join(ROOT, 'build/debug/bin/slipway'))
const OUT = resolve(process.env.SLIPWAY_TEST_OUT || join(ROOT, 'build/test-output/browser'))
const BASE_CACHE = process.env.SLIPWAY_TEST_BASE_CACHE || '/var/cache/slipway-test/base'
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt'
const CHROMIUM = process.env.SLIPWAY_CHROMIUM || '/usr/bin/chromium'
const DIST = join(ROOT, 'dashboard/dist')
const BUILD_MS = 15 * 60_000 // a first build on cold caches takes minutes
const PASSWORD_RE = /password \(shown only this once, keep it safe\): (\S+)/
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' }

const steps = [
  'log in', 'create a project', 'add a service from a git repository',
  'the deploy log reaches SUCCEEDED', 'the app answers through the ingress',
  'a variable change redeploys', 'a new commit deploys', 'roll back to the first release',
  'service logs show the app', 'workspace settings list the member',
]

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(what, fn, ms, step = 500) {
  const end = Date.now() + ms
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
    await sleep(step)
  }
}

function git(dir, ...args) {
  const p = spawnSync('git', args, { cwd: dir, env: GIT_ENV, encoding: 'utf8' })
  if (p.status !== 0) throw new Error(`git ${args.join(' ')}: ${p.stderr}`)
}

async function fetchText(url, timeoutMs = 5000) {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  return { status: r.status, text: await r.text() }
}

// GET <url> from 127.0.0.1 with its host in the Host header: the resolver of this machine
// need not know *.localhost (Chromium does).
function fetchVia127(url, timeoutMs = 5000) {
  const u = new URL(url)
  return new Promise((res, rej) => {
    const req = httpRequest({ host: '127.0.0.1', port: u.port, path: u.pathname, timeout: timeoutMs,
      headers: { Host: u.host } }, (r) => {
      let text = ''
      r.setEncoding('utf8')
      r.on('data', (c) => { text += c })
      r.on('end', () => res({ status: r.statusCode, text }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', rej)
    req.end()
  })
}

// ---------------------------------------------------------------- the platform

async function startSlipway(dir) {
  const port = await freePort()
  const ingressPort = await freePort()
  const data = join(dir, 'data')
  const args = ['serve', '--port', String(port), '--data-dir', data,
    '--set', 'ingress.enabled=true', '--set', `ingress.port=${ingressPort}`,
    '--set', `builder.base_cache=${BASE_CACHE}`, '--set', 'deployer.drain=1s',
    '--set', `gateway.dashboard_dir=${DIST}`]
  try {
    accessSync(HOST_CA, constants.R_OK)
    args.push('--set', `builder.ca_bundle=${HOST_CA}`)
  } catch { /* no host CA bundle: the builder's own */ }
  const log = join(dir, 'slipway.log')
  const { openSync } = await import('node:fs')
  const fd = openSync(log, 'w')
  const proc = spawn(BIN, args, { stdio: ['ignore', fd, fd] })
  let exited = null
  proc.on('exit', (code, sig) => { exited = code ?? sig })
  const url = `http://127.0.0.1:${port}`
  await until('slipway to answer /healthz', async () => {
    if (exited !== null) throw new Error(`slipway exited (${exited}): ${readFileSync(log, 'utf8').slice(-2000)}`)
    return (await fetchText(`${url}/healthz`, 1000)).status === 200
  }, 60_000, 200)
  return { proc, url, port, ingressPort, data, log, exited: () => exited }
}

function adminCreate(data, email) {
  const p = spawnSync(BIN, ['admin', 'create', '--email', email, '--data-dir', data], { encoding: 'utf8', timeout: 120_000 })
  const m = PASSWORD_RE.exec(p.stdout || '')
  if (p.status !== 0 || !m) throw new Error(`admin create exited ${p.status}: ${p.stderr}`)
  return m[1]
}

function appRepo(dir) {
  const repo = join(dir, 'node-express')
  cpSync(join(ROOT, 'examples/node-express'), repo, { recursive: true, filter: (s) => !s.includes('node_modules') })
  git(repo, 'init', '-q', '-b', 'main')
  git(repo, 'add', '-A')
  git(repo, 'commit', '-qm', 'first')
  return repo
}

// ---------------------------------------------------------------- the walk

async function main() {
  mkdirSync(OUT, { recursive: true })
  console.log(`1..${steps.length}`)
  if (!existsSync(join(DIST, 'index.html'))) {
    steps.forEach((s, i) => console.log(`not ok ${i + 1} - ${s} # dashboard not built (make dashboard)`))
    return 1
  }
  const dir = mkdtempSync(join(tmpdir(), 'slipway-browser-'))
  let s = null
  let browser = null
  let failed = 0
  let n = 0
  try {
    s = await startSlipway(dir)
    const email = 'golden@example.test'
    const password = adminCreate(s.data, email)
    const repo = appRepo(dir)

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    const context = await browser.newContext({ viewport: { width: 1400, height: 950 } })
    const page = await context.newPage()
    page.setDefaultTimeout(30_000)
    const consoleErrors = []
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()))

    const phase = page.getByTestId('deploy-phase')
    const deployId = page.getByTestId('deploy-id')
    let appUrl = ''

    async function waitPhase(want, ms = BUILD_MS) {
      await until(`phase ${want}`, async () => {
        const p = (await phase.textContent({ timeout: 2000 }))?.trim()
        if (p === 'FAILED' || p === 'CANCELLED') {
          const log = await page.getByRole('region', { name: 'Deploy log' }).textContent()
          throw new Error(`deploy ended ${p}: ${log.slice(-1500)}`)
        }
        return p === want
      }, ms, 1000)
    }
    async function appSays(text, ms = 120_000) {
      await until(`the app to say "${text}"`, async () => {
        const r = await fetchVia127(appUrl)
        return r.status === 200 && r.text.includes(text)
      }, ms, 1000)
    }
    async function newDeploy(before, ms = 120_000) {
      await until('a new deploy to show', async () => {
        const id = (await deployId.textContent({ timeout: 2000 }))?.trim()
        return id && id !== before
      }, ms, 300)
    }

    const walk = [
      async () => {
        await page.goto(s.url + '/')
        await page.waitForURL(/\/login/)
        await page.getByLabel('Password').fill('wrong password')
        await page.getByLabel('Email').fill(email)
        await page.getByRole('button', { name: 'Log in' }).click()
        await page.getByRole('alert').waitFor() // the refusal is shown on the form
        await page.getByLabel('Password').fill(password)
        await page.getByRole('button', { name: 'Log in' }).click()
        await page.getByRole('heading', { name: 'Projects' }).waitFor()
      },
      async () => {
        await page.getByRole('button', { name: 'New project' }).click()
        await page.getByLabel('Project name').fill('golden')
        await page.getByRole('button', { name: 'Create project' }).click()
        await page.waitForURL(/\/projects\/golden/)
        await page.getByRole('heading', { name: 'golden' }).waitFor()
      },
      async () => {
        await page.getByRole('button', { name: 'Add service' }).click()
        const dialog = page.getByRole('dialog')
        await dialog.getByLabel('Repository URL').fill('file://' + repo)
        await dialog.getByRole('button', { name: 'Detect' }).click()
        await dialog.getByRole('radio').first().waitFor({ timeout: 5 * 60_000 })
        await dialog.getByLabel('Service name').fill('web')
        await dialog.getByRole('button', { name: 'Add service' }).click()
        await page.getByRole('region', { name: 'Deploy log' }).waitFor({ timeout: 60_000 })
        await page.getByRole('button', { name: 'web', exact: true }).waitFor()
      },
      async () => {
        await waitPhase('SUCCEEDED')
        const log = await page.getByRole('region', { name: 'Deploy log' }).textContent()
        if (!log.trim()) throw new Error('the deploy log is empty')
      },
      async () => {
        const link = page.getByRole('link', { name: 'Open app' })
        appUrl = await until('the Open app link', () => link.getAttribute('href'), 60_000)
        // the port comes from the API (platformConfig.ingressUrl): the ingress runs on a free one here
        if (!appUrl.includes(`:${s.ingressPort}/`)) throw new Error(`Open app points at ${appUrl}`)
        await appSays('hello from node-express')
        const app = await context.newPage()
        await app.goto(appUrl)
        await app.getByText('hello from node-express').waitFor()
        await app.screenshot({ path: join(OUT, '05b-app.png') })
        await app.close()
      },
      async () => {
        const before = (await deployId.textContent())?.trim()
        await page.getByRole('tab', { name: 'Variables' }).click()
        await page.getByRole('button', { name: 'Add variable' }).click()
        await page.getByLabel('Key', { exact: true }).last().fill('GREETING')
        await page.getByLabel('Value', { exact: true }).last().fill('hello')
        await page.getByLabel('Secret', { exact: true }).last().check()
        await page.getByRole('button', { name: 'Save variables' }).click()
        await page.getByText('Saved.').waitFor()
        await page.getByRole('tab', { name: 'Deployments' }).click()
        await newDeploy(before)
        await waitPhase('SUCCEEDED', 5 * 60_000)
        // the secret reads back masked
        await page.getByRole('tab', { name: 'Variables' }).click()
        const v = await page.getByLabel('Value', { exact: true }).last().inputValue()
        if (v !== '********') throw new Error(`the secret reads back as ${JSON.stringify(v)}`)
        await page.getByRole('tab', { name: 'Deployments' }).click()
        await appSays('hello from node-express')
      },
      async () => {
        const f = join(repo, 'server.js')
        writeFileSync(f, readFileSync(f, 'utf8').replace('hello from node-express', 'hello again from node-express'))
        git(repo, 'commit', '-qam', 'second')
        const before = (await deployId.textContent())?.trim()
        await page.getByRole('button', { name: 'Redeploy' }).click()
        await newDeploy(before, 30_000)
        await waitPhase('SUCCEEDED')
        await appSays('hello again')
        await until('two deployments in the history', async () =>
          (await page.getByRole('button', { name: 'Roll back' }).count()) >= 1, 30_000)
      },
      async () => {
        await page.getByRole('button', { name: 'Roll back' }).first().click()
        await appSays('hello from node-express', 180_000)
      },
      async () => {
        await page.getByRole('tab', { name: 'Logs' }).click()
        const logs = page.getByRole('region', { name: 'Service logs' })
        await until('"listening on" in the service logs', async () =>
          (await logs.textContent()).includes('listening on'), 60_000)
      },
      async () => {
        await page.getByRole('link', { name: 'Workspace settings' }).click()
        await page.getByRole('heading', { name: 'Workspace settings' }).waitFor()
        await page.getByRole('table', { name: 'Members' }).getByText(email).waitFor()
      },
    ]

    let broken = ''
    for (const fn of walk) {
      n++
      const name = steps[n - 1]
      if (broken) {
        console.log(`not ok ${n} - ${name} # skipped after: ${broken}`)
        failed++
        continue
      }
      try {
        await fn()
        console.log(`ok ${n} - ${name}`)
      } catch (e) {
        failed++
        broken = name
        console.log(`not ok ${n} - ${name}`)
        for (const l of String(e.stack || e).split('\n').slice(0, 12)) console.log(`# ${l}`)
      }
      const shot = join(OUT, `${String(n).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}.png`)
      await page.screenshot({ path: shot, fullPage: true }).catch(() => undefined)
    }
    if (consoleErrors.length) console.log(`# browser console errors:\n# ${consoleErrors.slice(0, 10).join('\n# ')}`)
  } catch (e) {
    for (const l of String(e.stack || e).split('\n').slice(0, 12)) console.log(`# ${l}`)
    for (n++; n <= steps.length; n++) console.log(`not ok ${n} - ${steps[n - 1]} # setup failed`)
    failed++
  } finally {
    if (browser) await browser.close().catch(() => undefined)
    if (s) {
      if (s.exited() === null) {
        s.proc.kill('SIGTERM')
        await until('slipway to stop', () => s.exited() !== null, 60_000, 200).catch(() => s.proc.kill('SIGKILL'))
      }
      const d = spawnSync(BIN, ['down', '--data-dir', s.data], { encoding: 'utf8', timeout: 120_000 })
      if (d.status !== 0) console.log(`# slipway down exited ${d.status}: ${d.stderr}`)
      if (failed) console.log(`# slipway's log: ${s.log}`)
    }
    console.log(`# screenshots in ${OUT}`)
  }
  return failed ? 1 : 0
}

process.exitCode = await main()
