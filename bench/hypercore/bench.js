// Append throughput of node Hypercore, the baseline for hyperlog's Go
// benchmarks (go test -bench Append ./hyperlog). Appends N blocks of 100
// bytes to a fresh core in a temp directory, one `await core.append(block)`
// at a time and in batches of 100 and 1000 (one signed head per append
// call), and prints one JSON line per mode.
//
// Usage: node bench.js [N]   (default 100000)
'use strict'

const fs = require('fs')
const os = require('os')
const path = require('path')
const Hypercore = require('hypercore')

const N = Number(process.argv[2] || process.env.N || 100000)
const SIZE = 100

async function run (batch) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hypercore-bench-'))
  const core = new Hypercore(dir)
  await core.ready()
  const blocks = []
  for (let i = 0; i < N; i++) {
    const b = Buffer.alloc(SIZE)
    for (let j = 0; j < SIZE; j++) b[j] = (i + j) & 0xff
    blocks.push(b)
  }
  const start = process.hrtime.bigint()
  if (batch === 1) {
    for (let i = 0; i < N; i++) await core.append(blocks[i])
  } else {
    for (let i = 0; i < N; i += batch) await core.append(blocks.slice(i, i + batch))
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (core.length !== N) throw new Error('length ' + core.length)
  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  return {
    impl: 'hypercore',
    version: require('hypercore/package.json').version,
    node: process.version,
    blocks: N,
    blockSize: SIZE,
    batch,
    seconds: Number(seconds.toFixed(3)),
    blocksPerSec: Math.round(N / seconds)
  }
}

async function main () {
  for (const batch of [1, 100, 1000]) {
    console.log(JSON.stringify(await run(batch)))
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
