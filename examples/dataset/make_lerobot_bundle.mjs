#!/usr/bin/env node
// Writes a small LeRobot v2-style bundle, shaped like the scene pipeline's exporter output
// (reference section 7): meta/info.json, tasks.jsonl, episodes.jsonl, stats.json, checksums.json,
// one Parquet file per episode (written by the npm package hyparquet-writer, an independent
// Parquet writer) and one placeholder MP4 per episode and camera.
//
// The videos are 24-byte placeholders: a valid ISO-BMFF 'ftyp' box and nothing else. They are
// not playable; the lerobot_bundle check only verifies that each video exists, is non-empty and
// starts with an 'ftyp' box.
//
//   npm ci --prefix tests/npm            # once: installs hyparquet-writer (pinned)
//   node examples/dataset/make_lerobot_bundle.mjs examples/dataset/lerobot_bundle
//
// Options (the tests use them to write broken bundles):
//   --episodes N          episodes to write (default 3)
//   --cameras a,b         camera names (default front)
//   --bad-value nan|inf   write NaN (or +Infinity) into episode 0's observation.ee_position, a
//                         DOUBLE list column. hyparquet-writer leaves NaN out of min/max and
//                         counts it in Statistics.nan_count (field 9); Infinity becomes max_value.
//   --no-statistics       write Parquet without column statistics
//   --node-modules DIR    where hyparquet-writer is installed (default tests/npm/node_modules)
//
// The output is deterministic: same options, same bytes.

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
let out = null
const opt = { episodes: 3, cameras: ['front'], badValue: null, statistics: true,
  nodeModules: path.join(here, '..', '..', 'tests', 'npm', 'node_modules') }
for (let i = 0; i < args.length; ++i) {
  const a = args[i]
  const next = () => {
    if (i + 1 >= args.length) throw new Error(`${a} needs a value`)
    return args[++i]
  }
  if (a === '--episodes') opt.episodes = Number.parseInt(next(), 10)
  else if (a === '--cameras') opt.cameras = next().split(',').filter(Boolean)
  else if (a === '--bad-value') opt.badValue = next()
  else if (a === '--node-modules') opt.nodeModules = next()
  else if (a === '--no-statistics') opt.statistics = false
  else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
  else out = a
}
if (!out || !(opt.episodes >= 1) || opt.cameras.length === 0 ||
    (opt.badValue !== null && opt.badValue !== 'nan' && opt.badValue !== 'inf')) {
  console.error('usage: make_lerobot_bundle.mjs OUT_DIR [--episodes N] [--cameras a,b] ' +
    '[--bad-value nan|inf] [--no-statistics] [--node-modules DIR]')
  process.exit(2)
}
const writerPath = path.join(opt.nodeModules, 'hyparquet-writer', 'src', 'node.js')
if (!fs.existsSync(writerPath)) {
  console.error(`hyparquet-writer not found at ${writerPath}: run npm ci --prefix tests/npm`)
  process.exit(3)
}
const { parquetWriteFile } = await import(pathToFileURL(writerPath).href)

const fps = 10
const chunksSize = 1000
const tasks = ['pick up the mug and place it on the shelf', 'open the top drawer']
const lengths = Array.from({ length: opt.episodes }, (_, i) => 5 + (i % 3))
const totalFrames = lengths.reduce((a, b) => a + b, 0)
const dataPath = 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet'
const videoPath = 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4'

// A small deterministic generator (no Math.random: the bundle must be reproducible).
let seed = 12345
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
}
const round = (x) => Math.round(x * 1000) / 1000

const features = {
  'observation.state': { dtype: 'float32', shape: [7], names: null },
  'observation.gripper_position': { dtype: 'float32', shape: [1], names: null },
  'observation.ee_position': { dtype: 'float64', shape: [3], names: ['x', 'y', 'z'] },
  action: { dtype: 'float32', shape: [7], names: null },
  timestamp: { dtype: 'float32', shape: [1], names: null },
  frame_index: { dtype: 'int64', shape: [1], names: null },
  episode_index: { dtype: 'int64', shape: [1], names: null },
  index: { dtype: 'int64', shape: [1], names: null },
  task_index: { dtype: 'int64', shape: [1], names: null },
}
for (const cam of opt.cameras) {
  features[`observation.images.${cam}`] = {
    dtype: 'video', shape: [48, 64, 3], names: ['height', 'width', 'channels'],
    info: { 'video.fps': fps, 'video.codec': 'av1', 'video.pix_fmt': 'yuv420p' },
  }
}

const listColumn = (name, type) => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', type, repetition_type: 'OPTIONAL' },
]
const schema = [
  { name: 'schema', num_children: 9 },
  ...listColumn('observation.state', 'FLOAT'),
  ...listColumn('observation.gripper_position', 'FLOAT'),
  ...listColumn('observation.ee_position', 'DOUBLE'),
  ...listColumn('action', 'FLOAT'),
  { name: 'timestamp', type: 'FLOAT', repetition_type: 'OPTIONAL' },
  { name: 'frame_index', type: 'INT64', repetition_type: 'OPTIONAL' },
  { name: 'episode_index', type: 'INT64', repetition_type: 'OPTIONAL' },
  { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
  { name: 'task_index', type: 'INT64', repetition_type: 'OPTIONAL' },
]

const stats = {}
const accumulate = (key, vec) => {
  const s = stats[key] ?? (stats[key] = { n: 0, sum: [], sq: [], min: [], max: [] })
  vec.forEach((v, d) => {
    s.sum[d] = (s.sum[d] ?? 0) + v
    s.sq[d] = (s.sq[d] ?? 0) + v * v
    s.min[d] = Math.min(s.min[d] ?? Infinity, v)
    s.max[d] = Math.max(s.max[d] ?? -Infinity, v)
  })
  s.n += 1
}

fs.mkdirSync(path.join(out, 'meta'), { recursive: true })
const episodes = []
let globalIndex = 0
for (let ep = 0; ep < opt.episodes; ++ep) {
  const length = lengths[ep]
  const taskIndex = ep % tasks.length
  const cols = { state: [], gripper: [], ee: [], action: [], ts: [], frame: [], epi: [], idx: [], task: [] }
  for (let f = 0; f < length; ++f) {
    const state = Array.from({ length: 7 }, () => round(rand() * 2 - 1))
    const gripper = [round(rand() * 0.08)]
    const ee = [round(0.3 + rand() * 0.2), round(-0.1 + rand() * 0.2), round(0.2 + rand() * 0.3)]
    const action = Array.from({ length: 7 }, () => round(rand() * 2 - 1))
    for (const [key, vec] of [['observation.state', state], ['observation.gripper_position', gripper],
      ['observation.ee_position', ee], ['action', action]]) accumulate(key, vec)
    cols.state.push(state)
    cols.gripper.push(gripper)
    cols.ee.push(ee)
    cols.action.push(action)
    cols.ts.push(f / fps)
    cols.frame.push(BigInt(f))
    cols.epi.push(BigInt(ep))
    cols.idx.push(BigInt(globalIndex++))
    cols.task.push(BigInt(taskIndex))
  }
  if (ep === 0 && opt.badValue) cols.ee[1][2] = opt.badValue === 'nan' ? NaN : Infinity
  const chunk = Math.floor(ep / chunksSize)
  const file = path.join(out, 'data', `chunk-${String(chunk).padStart(3, '0')}`,
    `episode_${String(ep).padStart(6, '0')}.parquet`)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  parquetWriteFile({
    filename: file,
    schema,
    columnData: [
      { name: 'observation.state', data: cols.state },
      { name: 'observation.gripper_position', data: cols.gripper },
      { name: 'observation.ee_position', data: cols.ee },
      { name: 'action', data: cols.action },
      { name: 'timestamp', data: cols.ts },
      { name: 'frame_index', data: cols.frame },
      { name: 'episode_index', data: cols.epi },
      { name: 'index', data: cols.idx },
      { name: 'task_index', data: cols.task },
    ],
    statistics: opt.statistics,
    createdBy: 'stagecheck make_lerobot_bundle.mjs (hyparquet-writer 0.17.0)',
  })
  for (const cam of opt.cameras) {
    const video = path.join(out, 'videos', `chunk-${String(chunk).padStart(3, '0')}`,
      `observation.images.${cam}`, `episode_${String(ep).padStart(6, '0')}.mp4`)
    fs.mkdirSync(path.dirname(video), { recursive: true })
    // A lone 'ftyp' box: size 24, brand isom, minor version 0x200, compatible isom, iso2.
    const box = Buffer.alloc(24)
    box.writeUInt32BE(24, 0)
    box.write('ftypisom', 4, 'latin1')
    box.writeUInt32BE(0x200, 12)
    box.write('isomiso2', 16, 'latin1')
    fs.writeFileSync(video, box)
  }
  episodes.push({
    episode_index: ep, task_index: taskIndex, task: tasks[taskIndex], length,
    scene_id: 'kitchen_001', variation_index: ep, success: true, quality_score: 0.93,
    is_mock: false, split: ep === opt.episodes - 1 && opt.episodes > 1 ? 'val' : 'train',
    cameras: opt.cameras, rgb_frames_expected_total: length * opt.cameras.length,
    rgb_frames_written_total: length * opt.cameras.length, dropped_frames_total: 0,
    lineage_ref: 'meta/info.json#/lineage',
  })
}

const info = {
  format: 'lerobot', export_format: 'lerobot_v2', version: '2.0', codebase_version: 'v2.0',
  robot_type: 'franka', fps,
  total_episodes: opt.episodes, total_frames: totalFrames, total_tasks: tasks.length,
  total_videos: opt.episodes * opt.cameras.length, total_chunks: Math.floor((opt.episodes - 1) / chunksSize) + 1,
  chunks_size: chunksSize, data_path: dataPath, video_path: videoPath, features,
  data_pack: { tier: 'core', cameras: opt.cameras, resolution: [64, 48], includes_depth: false,
    includes_segmentation: false },
  tier_compliance: { tier: 'core', compliant: true, missing_features: [] },
  data_quality: { physics_validated: true, sensor_source: 'isaac_sim_replicator',
    validation_type: 'physx', isaac_sim_used: true, warnings: [], video_integrity: 'verified' },
  lineage: {
    sim_backend: { name: 'isaac_sim', version: '4.5.0', container_image: 'nvcr.io/nvidia/isaac-sim:4.5.0',
      build_id: 'build-2026-01-01-001',
      container_digest: 'sha256:3f1c2b4a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708',
      source: { build_id: 'env:ISAAC_SIM_BUILD_ID' } },
    physics_parameters: { validation_thresholds: { max_penetration_m: 0.005 }, validation_overrides: {},
      resolved_thresholds: { max_penetration_m: 0.005, min_contact_frames: 3 },
      sim_validator: { require_real_physics: true }, source: {} },
    quality_gates: { summary: { passed: 12, failed: 0 }, report_timestamp: '2026-01-01T00:00:00Z',
      report_path: 'scenes/kitchen_001/episode-generation-job/quality_gate_report.json',
      report_hash: 'sha256:9f2c6a01b5e4d3c2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8',
      config_version: '1.4.0',
      config_hash: 'sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9',
      bypass_enabled: false, source: {} },
    pipeline: { scene_id: 'kitchen_001', bucket: 'example-bucket', job_id: 'job-0001',
      run_id: 'run-0001', pipeline_env: 'production', pipeline_version: '1.0.0', source: {} },
  },
  splits: { train: `0:${opt.episodes > 1 ? opt.episodes - 1 : 1}` },
  created_at: '2026-01-01T00:00:00Z', generator: 'make_lerobot_bundle.mjs', generator_version: '2.0.0',
}

const statsOut = {}
for (const [key, s] of Object.entries(stats)) {
  const mean = s.sum.map((v) => v / s.n)
  statsOut[key] = {
    min: s.min, max: s.max, mean: mean.map(round),
    std: s.sq.map((v, d) => round(Math.sqrt(Math.max(0, v / s.n - mean[d] * mean[d])))),
  }
}
statsOut.modality_coverage = { rgb: 1.0, state: 1.0, action: 1.0 }

const write = (rel, text) => fs.writeFileSync(path.join(out, rel), text)
write('meta/info.json', JSON.stringify(info, null, 2) + '\n')
write('meta/tasks.jsonl', tasks.map((task, i) => JSON.stringify({ task_index: i, task })).join('\n') + '\n')
write('meta/episodes.jsonl', episodes.map((e) => JSON.stringify(e)).join('\n') + '\n')
write('meta/stats.json', JSON.stringify(statsOut, null, 2) + '\n')

// meta/checksums.json: the exporter's flat {relpath: sha256}, sorted, without itself.
const files = []
const walk = (dir) => {
  for (const name of fs.readdirSync(path.join(out, dir)).sort()) {
    const rel = dir ? `${dir}/${name}` : name
    if (fs.statSync(path.join(out, rel)).isDirectory()) walk(rel)
    else if (rel !== 'meta/checksums.json') files.push(rel)
  }
}
walk('')
const sums = {}
for (const rel of files.sort()) {
  sums[rel] = createHash('sha256').update(fs.readFileSync(path.join(out, rel))).digest('hex')
}
write('meta/checksums.json', JSON.stringify(sums, null, 2) + '\n')
console.log(`wrote ${opt.episodes} episodes (${totalFrames} frames) to ${out}`)
