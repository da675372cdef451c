// The graphile-worker side of bench/flow.sh: how many trivial jobs per second graphile-worker
// (a PostgreSQL job queue for node) runs on a given PostgreSQL server, to set beside slipway's
// workflow engine running the same number of trivial steps on the same server.
//
//   node bench/flow-graphile.mjs --url URL --jobs N [--concurrency C] [--processes P]
//
// What it does, in order:
//  1. drops and re-creates the schema "flow_bench_graphile" (graphile-worker's tables, made by
//     its own runMigrations), so every run starts from an empty queue; nothing else on the
//     server is touched;
//  2. queues N jobs of the task "noop" (an async function that returns at once) with one
//     addJobs call: a single statement, before any clock starts, so queueing is not measured;
//  3. starts P worker processes (default 1), each graphile-worker's run() with C concurrent
//     jobs, and waits until the queue is empty: every job done and its completion committed
//     (graphile-worker deletes a job's row when it completes);
//  4. prints {"jobs":N,"seconds":s,"jobs_per_s":x,...} on stdout.
//
// The clock runs from the first job's start (in any process) to the moment the job table is
// seen empty. So, as on slipway's side, the engine's start-up (node, connecting, LISTEN) is
// not counted, and the last completions are counted only once they are committed.
//
// Settings, chosen to be fair to graphile-worker: the ones its documentation gives for its
// own throughput figures (the "Performance" page of its website: concurrentJobs 24,
// maxPoolSize 25, localQueue size 500, completeJobBatchDelay 0, failJobBatchDelay 0).
//  - concurrency: C jobs at once per process (--concurrency, default 24 as there). The jobs
//    do nothing, so more concurrency only adds promise bookkeeping; bench/flow.sh passes 24.
//  - maxPoolSize: C + 1 connections per process, so no job ever waits for a pool client
//    (the documentation's advice: at least concurrentJobs + 1).
//  - localQueue.size 500: jobs are fetched (and locked) 500 at a time by one query instead
//    of one query per job per worker; its documented batching mode for many short jobs.
//  - completeJobBatchDelay 0 / failJobBatchDelay 0: completions are written in batches, one
//    statement (one commit) per event-loop turn instead of one per job. slipway's engine
//    groups the commits of its steps too, so both sides batch their durable writes; each
//    batch is still a synchronous commit (the server runs with fsync and
//    synchronous_commit on).
//  - a logger that drops info and debug lines: by default graphile-worker prints a line per
//    completed job to the console, which would measure the terminal; warnings and errors
//    still go to stderr.
//  - --processes: graphile-worker runs JavaScript on one thread, so several processes on the
//    same queue can use more than one core; bench/flow.sh says which count it used.
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import process from 'node:process';
import { Logger, makeWorkerUtils, run, runMigrations } from 'graphile-worker';

const SCHEMA = 'flow_bench_graphile';
const TASK = 'noop';
const LOCAL_QUEUE = 500;
const TIMEOUT_MS = 10 * 60 * 1000;

function options(argv) {
  const o = { url: '', jobs: 0, concurrency: 24, processes: 1, child: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--url') o.url = argv[++i];
    else if (argv[i] === '--jobs') o.jobs = Number(argv[++i]);
    else if (argv[i] === '--concurrency') o.concurrency = Number(argv[++i]);
    else if (argv[i] === '--processes') o.processes = Number(argv[++i]);
    else if (argv[i] === '--child') o.child = true;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  const positive = (n) => Number.isInteger(n) && n > 0;
  if (!o.url || !positive(o.jobs) || !positive(o.concurrency) || !positive(o.processes))
    throw new Error(
      'usage: flow-graphile.mjs --url URL --jobs N [--concurrency C] [--processes P]');
  return o;
}

// Warnings and errors only, on stderr: no line per job.
const quiet = new Logger((scope) => (level, message) => {
  if (level === 'error' || level === 'warning')
    process.stderr.write(`graphile-worker ${level} ${JSON.stringify(scope)}: ${message}\n`);
});

const PRESET = {
  worker: {
    localQueue: { size: LOCAL_QUEUE },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
};

function workerOptions(o, events) {
  return {
    connectionString: o.url,
    schema: SCHEMA,
    concurrency: o.concurrency,
    maxPoolSize: o.concurrency + 1,
    noHandleSignals: true,
    logger: quiet,
    events,
    preset: PRESET,
    taskList: { [TASK]: async () => {} },
  };
}

// Wall-clock milliseconds with sub-millisecond precision, comparable between processes.
const now = () => performance.timeOrigin + performance.now();

// A worker process: runs the pool until its parent says stop; reports the time of its first
// job start, and how many jobs it has run at most every COUNT_MS (few messages, so the
// parent need not poll the database while the jobs run).
const COUNT_MS = 1;
async function child(o) {
  const events = new EventEmitter();
  let first = 0;
  let done = 0;
  let failed = 0;
  let counting = false;
  events.on('job:start', () => {
    if (first === 0) {
      first = now();
      process.send({ ev: 'first', t: first });
    }
  });
  events.on('job:success', () => {
    done++;
    if (counting) return;
    counting = true;
    setTimeout(() => {
      counting = false;
      process.send({ ev: 'count', done });
    }, COUNT_MS);
  });
  events.on('job:failed', () => failed++);
  events.on('job:error', () => failed++);
  let stopping = false;
  // the parent gone (killed, interrupted): no worker outlives it
  process.on('disconnect', () => stopping || process.exit(1));
  const runner = await run(workerOptions(o, events));
  process.on('message', async (m) => {
    if (m.ev !== 'stop') return;
    stopping = true;
    await runner.stop();
    process.send({ ev: 'stopped', done, failed });
    process.disconnect();
  });
  process.send({ ev: 'running' });
}

async function remaining(utils) {
  return utils.withPgClient(async (c) => {
    const r = await c.query(`select count(*)::int as n from ${SCHEMA}._private_jobs`);
    return r.rows[0].n;
  });
}

// Resolves once the job table is empty; checks every <ms>.
async function drained(utils, ms) {
  for (;;) {
    if ((await remaining(utils)) === 0) return now();
    await new Promise((r) => setTimeout(r, ms));
  }
}

async function prepare(o) {
  const utils = await makeWorkerUtils({ connectionString: o.url, schema: SCHEMA, logger: quiet });
  await utils.withPgClient((c) => c.query(`drop schema if exists ${SCHEMA} cascade`));
  await runMigrations({ connectionString: o.url, schema: SCHEMA, logger: quiet });
  const specs = Array.from({ length: o.jobs }, (_, i) => ({
    identifier: TASK,
    payload: { i },
    maxAttempts: 1,
  }));
  await utils.addJobs(specs);
  const queued = await remaining(utils);
  if (queued !== o.jobs) throw new Error(`queued ${queued} jobs, not ${o.jobs}`);
  return utils;
}

async function main(o) {
  const utils = await prepare(o);
  const self = new URL(import.meta.url).pathname;
  const args = ['--child', '--url', o.url, '--jobs', String(o.jobs), '--concurrency',
    String(o.concurrency)];
  const kids = [];
  const ran = new Array(o.processes).fill(0);
  let allRan;
  const ranAll = new Promise((resolve) => (allRan = resolve));
  let first = Infinity;
  for (let i = 0; i < o.processes; i++) {
    const k = fork(self, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    k.on('message', (m) => {
      if (m.ev === 'first') first = Math.min(first, m.t);
      if (m.ev !== 'count') return;
      ran[i] = m.done;
      if (ran.reduce((a, b) => a + b, 0) >= o.jobs) allRan();
    });
    k.on('exit', (code) => {
      if (code !== 0 && !k.stopping) {
        console.error(`flow-graphile.mjs: a worker process exited with ${code}`);
        process.exit(1);
      }
    });
    kids.push(k);
  }
  const timer = setTimeout(() => {
    console.error(`flow-graphile.mjs: the jobs did not finish in ${TIMEOUT_MS / 1000} s`);
    for (const k of kids) k.kill('SIGKILL');
    process.exit(1);
  }, TIMEOUT_MS);
  // every job has run; its completion is committed in the batch of its event-loop turn, so
  // the table empties within a few milliseconds: polled every one
  await ranAll;
  const end = await drained(utils, 1);
  clearTimeout(timer);
  const stopped = kids.map((k) => new Promise((resolve) => {
    k.stopping = true;
    k.on('message', (m) => m.ev === 'stopped' && resolve(m));
    k.send({ ev: 'stop' });
  }));
  const counts = await Promise.all(stopped);
  await utils.release();
  const succeeded = counts.reduce((n, c) => n + c.done, 0);
  const failed = counts.reduce((n, c) => n + c.failed, 0);
  if (succeeded !== o.jobs || failed !== 0)
    throw new Error(`${succeeded} jobs succeeded and ${failed} failed, of ${o.jobs}`);
  const seconds = (end - first) / 1000;
  console.log(JSON.stringify({
    jobs: o.jobs,
    seconds: Number(seconds.toFixed(4)),
    jobs_per_s: Math.round(o.jobs / seconds),
    concurrency: o.concurrency,
    processes: o.processes,
    local_queue: LOCAL_QUEUE,
    complete_batch_delay_ms: 0,
    graphile_worker: createRequire(import.meta.url)('graphile-worker/package.json').version,
  }));
}

const o = options(process.argv.slice(2));
(o.child ? child(o) : main(o)).catch((e) => {
  console.error(`flow-graphile.mjs: ${e.stack || e}`);
  process.exit(1);
});
