// The static explorer: the exported generator runs in the visitor's browser (onnxruntime-web).
// WebGPU where the browser has it, else WebAssembly with SIMD (threads when the page is
// cross-origin isolated). Seeds follow the Python seed rule exactly (seed.js).
import { latentsFromSeeds, parseSeeds, standardNormal } from "./seed.js";

const $ = (id) => document.getElementById(id);
const DIRECTIONS = 4; // random orthonormal directions for the sliders, plus 2 single dimensions

async function loadOrt(shipsWebgpu) {
  const webgpu = shipsWebgpu && "gpu" in navigator && (await navigator.gpu.requestAdapter().catch(() => null)) !== null;
  const ort = await import(webgpu ? "./ort/ort.webgpu.min.mjs" : "./ort/ort.wasm.min.mjs");
  ort.env.wasm.wasmPaths = new URL("./ort/", document.baseURI).href;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
  return { ort, webgpu };
}

/** float32 NCHW in [-1, 1] -> uint8 NHWC, rounding half to even as numpy's rint does. */
function toUint8(data, n, c, h, w) {
  const out = new Uint8Array(n * h * w * c);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < h * w; p++) {
        const v = (Math.fround(data[(i * c + ch) * h * w + p]) + 1) * 127.5;
        let r = Math.round(v);
        if (r - v === 0.5 && r % 2 !== 0) r -= 1;
        out[(i * h * w + p) * c + ch] = Math.min(255, Math.max(0, r));
      }
  return out;
}

class Model {
  static async load() {
    const meta = await (await fetch("model.json")).json();
    const { ort, webgpu } = await loadOrt(meta.webgpu);
    const providers = webgpu ? ["webgpu", "wasm"] : ["wasm"];
    const session = await ort.InferenceSession.create("model.onnx", { executionProviders: providers });
    return new Model(ort, session, meta, webgpu ? "webgpu" : `wasm (SIMD, ${ort.env.wasm.numThreads} thread(s))`);
  }

  constructor(ort, session, meta, backend) {
    Object.assign(this, { ort, session, meta, backend });
    this.dim = meta.latent_dim;
    this.queue = Promise.resolve(); // one run at a time: sessions are not re-entrant
  }

  /** latents Float32Array (n * dim) -> uint8 NHWC images (n * H * W * C). */
  decode(z) {
    const m = this.meta, n = z.length / this.dim;
    const run = async () => {
      const out = await this.session.run({ [m.input_name]: new this.ort.Tensor("float32", z, [n, this.dim, 1, 1]) });
      return toUint8(out[m.output_name].data, n, m.channels, m.image_size, m.image_size);
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  generate(seeds) {
    return this.decode(latentsFromSeeds(seeds, this.dim));
  }
}

function imageData(pixels, index, size, channels) {
  const img = new ImageData(size, size);
  for (let p = 0; p < size * size; p++) {
    const src = (index * size * size + p) * channels;
    img.data.set(channels === 3 ? [pixels[src], pixels[src + 1], pixels[src + 2]] : [pixels[src], pixels[src], pixels[src]], p * 4);
    img.data[p * 4 + 3] = 255;
  }
  return img;
}

function canvasFor(model, pixels, index, scale = 1) {
  const s = model.meta.image_size, canvas = document.createElement("canvas");
  canvas.width = canvas.height = s;
  canvas.getContext("2d").putImageData(imageData(pixels, index, s, model.meta.channels), 0, 0);
  canvas.style.width = canvas.style.height = `${s * scale}px`;
  return canvas;
}

// --- latent math, as dcgan_runtime.latent
const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
function slerp(a, b, t) {
  const na = norm(a), nb = norm(b);
  const cos = Math.min(1, Math.max(-1, a.reduce((s, x, i) => s + (x / na) * (b[i] / nb), 0)));
  const omega = Math.acos(cos);
  if (omega < 1e-6) return a.map((x, i) => (1 - t) * x + t * b[i]);
  const len = (1 - t) * na + t * nb;
  return a.map((x, i) => ((Math.sin((1 - t) * omega) * (x / na) + Math.sin(t * omega) * (b[i] / nb)) / Math.sin(omega)) * len);
}
const lerp = (a, b, t) => a.map((x, i) => (1 - t) * x + t * b[i]);
const mean = (rows) => rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);

function directions(dim, k, seed) {
  const g = standardNormal(seed, dim * k); // (dim, k) row-major, as numpy draws it; Gram-Schmidt on columns
  const cols = [];
  for (let j = 0; j < k; j++) {
    let v = Array.from({ length: dim }, (_, i) => g[i * k + j]);
    for (const u of cols) {
      const d = v.reduce((s, x, i) => s + x * u[i], 0);
      v = v.map((x, i) => x - d * u[i]);
    }
    const n = norm(v);
    cols.push(v.map((x) => x / n));
  }
  return cols;
}

// --- the page
const state = { model: null, a: null, b: null, z: null, base: null, dirs: [], frames: null, nframes: 16 };
const status = (text) => ($("status").textContent = text);
const latentOf = (seed) => Array.from(standardNormal(seed, state.model.dim));

async function showGrid() {
  const first = Number($("first-seed").value), count = Math.min(64, Math.max(1, Number($("count").value)));
  const seeds = Array.from({ length: count }, (_, i) => first + i);
  const pixels = await state.model.generate(seeds);
  const grid = $("grid");
  grid.textContent = "";
  seeds.forEach((seed, i) => {
    const c = canvasFor(state.model, pixels, i);
    c.dataset.seed = seed;
    c.title = `seed ${seed}`;
    c.addEventListener("click", () => select(seed));
    grid.appendChild(c);
  });
}

async function select(seed) {
  [state.a, state.b] = [state.b ?? seed, seed];
  if (state.a === state.b) state.a = seed;
  $("sel-a").textContent = `A = ${state.a}`;
  $("sel-b").textContent = `B = ${state.b}`;
  state.base = latentOf(seed);
  for (const s of document.querySelectorAll("#sliders input")) s.value = 0;
  await renderSelected();
}

async function renderSelected() {
  if (!state.base) return;
  const z = [...state.base];
  document.querySelectorAll("#sliders input").forEach((s) => {
    const v = Number(s.value);
    if (s.dataset.dir !== undefined) state.dirs[Number(s.dataset.dir)].forEach((d, i) => (z[i] += v * d));
    else z[Number(s.dataset.dim)] += v;
  });
  const pixels = await state.model.decode(Float32Array.from(z));
  const big = $("big");
  big.getContext("2d").putImageData(imageData(pixels, 0, state.model.meta.image_size, state.model.meta.channels), 0, 0);
  big.dataset.version = String(Number(big.dataset.version || 0) + 1);
}

function buildSliders() {
  const box = $("sliders");
  const add = (label, attrs) => {
    const l = document.createElement("label");
    l.textContent = `${label} `;
    const input = Object.assign(document.createElement("input"), { type: "range", min: -3, max: 3, step: 0.1, value: 0 });
    Object.assign(input.dataset, attrs);
    input.id = attrs.dir !== undefined ? `dir${attrs.dir}` : `dim${attrs.dim}`;
    input.addEventListener("input", renderSelected);
    l.appendChild(input);
    box.appendChild(l);
  };
  state.dirs.forEach((_, k) => add(`direction ${k + 1}`, { dir: String(k) }));
  [0, 1].forEach((d) => add(`z[${d}]`, { dim: String(d) }));
}

async function interpolate() {
  if (state.a === null || state.b === null) return status("select two samples first");
  const a = latentOf(state.a), b = latentOf(state.b), n = state.nframes, f = $("method").value === "lerp" ? lerp : slerp;
  const z = new Float32Array(n * state.model.dim);
  for (let i = 0; i < n; i++) z.set(f(a, b, i / (n - 1)), i * state.model.dim);
  state.frames = await state.model.decode(z);
  $("t").disabled = false;
  $("save-webm").hidden = !("MediaRecorder" in window);
  showFrame();
}

function showFrame() {
  const m = state.model.meta;
  $("frame").getContext("2d").putImageData(imageData(state.frames, Number($("t").value), m.image_size, m.channels), 0, 0);
}

async function saveWebm() {
  const canvas = $("frame"), recorder = new MediaRecorder(canvas.captureStream(12), { mimeType: "video/webm" });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const done = new Promise((resolve) => (recorder.onstop = resolve));
  recorder.start();
  for (let i = 0; i < state.nframes; i++) {
    $("t").value = i;
    showFrame();
    await new Promise((r) => setTimeout(r, 1000 / 12));
  }
  recorder.stop();
  await done;
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(new Blob(chunks, { type: "video/webm" })), download: "walk.webm" });
  link.click();
}

async function arithmetic() {
  const slots = [0, 1, 2].map((i) => parseSeeds($(`slot${i}`).value, 64).map(latentOf));
  const signs = [1, -1, 1];
  const result = slots.map(mean).reduce((acc, c, k) => acc.map((x, i) => x + signs[k] * c[i]), new Array(state.model.dim).fill(0));
  const noise = standardNormal(0, 8 * state.model.dim); // RandomState(0).standard_normal((8, dim)), as the runtime's neighbours
  const z = new Float32Array(9 * state.model.dim);
  z.set(result, 0);
  for (let k = 0; k < 8; k++) z.set(result.map((x, i) => x + 0.25 * noise[k * state.model.dim + i]), (k + 1) * state.model.dim);
  const pixels = await state.model.decode(z);
  const box = $("arith-result");
  box.textContent = "";
  [1, 2, 3, 4, 0, 5, 6, 7, 8].forEach((i) => box.appendChild(canvasFor(state.model, pixels, i)));
}

async function benchmark(batch, seconds = 2) {
  const z = latentsFromSeeds(Array.from({ length: batch }, (_, i) => i), state.model.dim);
  await state.model.decode(z); // warm-up
  const times = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end || times.length < 3) {
    const t = performance.now();
    await state.model.decode(z);
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)];
  return { batch, ms_per_batch: ms, images_per_s: (1000 * batch) / ms, rounds: times.length };
}

async function main() {
  const t0 = performance.now();
  try {
    state.model = await Model.load();
  } catch (e) {
    status(`could not load the model: ${e.message}`);
    throw e;
  }
  const m = state.model.meta;
  state.dirs = directions(state.model.dim, DIRECTIONS, 0);
  buildSliders();
  $("model").textContent = `${m.image_size}x${m.image_size}x${m.channels}, latent_dim ${m.latent_dim}, ${m.precision}, on ${state.model.backend} in this browser`;
  $("metadata").textContent = JSON.stringify(m, null, 2);
  $("big").width = $("big").height = $("frame").width = $("frame").height = m.image_size;
  $("t").max = state.nframes - 1;
  $("refresh").addEventListener("click", showGrid);
  $("next").addEventListener("click", () => {
    $("first-seed").value = Number($("first-seed").value) + Number($("count").value);
    showGrid();
  });
  $("reset-sliders").addEventListener("click", () => select(state.b ?? 0));
  $("interpolate").addEventListener("click", interpolate);
  $("t").addEventListener("input", showFrame);
  $("save-webm").addEventListener("click", saveWebm);
  $("compute").addEventListener("click", () => arithmetic().catch((e) => status(e.message)));
  for (const button of document.querySelectorAll(".add"))
    button.addEventListener("click", () => {
      const slot = $(`slot${button.dataset.slot}`);
      if (state.b !== null) slot.value = slot.value ? `${slot.value},${state.b}` : String(state.b);
    });
  await showGrid();
  window.dcgan.firstImageMs = performance.now() - t0;
  status("");
}

// What tests and benchmarks use: the model, the seed rule, a timer.
window.dcgan = {
  ready: main().then(() => true),
  generate: async (seeds) => Array.from(await state.model.generate(seeds)),
  decode: async (z) => Array.from(await state.model.decode(Float32Array.from(z))),
  latents: (seeds) => Array.from(latentsFromSeeds(seeds, state.model.dim)),
  benchmark,
  get backend() {
    return state.model?.backend;
  },
};
