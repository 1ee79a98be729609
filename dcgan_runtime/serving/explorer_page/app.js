// The explorer page: plain JS over the JSON/PNG API in dcgan_runtime/serve.py.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { a: null, b: null, z: null, directions: [], dims: [0, 1], strip: null, steps: 16 };

async function api(path, options) {
  const r = await fetch(path, options);
  if (!r.ok) {
    const e = await r.json().catch(() => ({ error: r.statusText }));
    $("status").textContent = e.error;
    throw new Error(e.error);
  }
  $("status").textContent = "";
  return r;
}
const blobUrl = async (r) => URL.createObjectURL(await r.blob());

async function showGrid() {
  const first = Number($("first-seed").value), count = Number($("count").value);
  const grid = $("grid");
  grid.textContent = "";
  for (let s = first; s < first + count; s++) {
    const img = document.createElement("img");
    img.alt = `seed ${s}`;
    img.dataset.seed = s;
    img.src = `api/generate?seeds=${s}`;
    img.addEventListener("click", () => select(s));
    grid.appendChild(img);
  }
}

async function select(seed) {
  state.b = state.a;
  state.a = seed;
  $("sel-a").textContent = `A = ${state.a}`;
  $("sel-b").textContent = `B = ${state.b ?? "none"}`;
  for (const img of $("grid").children) {
    img.classList.toggle("a", Number(img.dataset.seed) === state.a);
    img.classList.toggle("b", Number(img.dataset.seed) === state.b);
  }
  state.z = (await (await api(`api/latents?seeds=${seed}`)).json()).latents[0];
  resetSliders();
  await render();
}

function buildSliders() {
  const box = $("sliders");
  const add = (label, id) => {
    const l = document.createElement("label");
    l.innerHTML = `${label} <input id="${id}" type="range" min="-3" max="3" step="0.1" value="0">`;
    box.appendChild(l);
    l.querySelector("input").addEventListener("input", render);
  };
  state.directions.forEach((_, i) => add(`direction ${i + 1}`, `dir${i}`));
  state.dims.forEach((d) => add(`dimension ${d}`, `dim${d}`));
}

function resetSliders() {
  for (const input of $("sliders").querySelectorAll("input")) input.value = 0;
}

let pending = null;
async function render() {
  if (!state.z) return;
  const z = state.z.slice();
  state.directions.forEach((dir, i) => {
    const alpha = Number($(`dir${i}`).value);
    for (let j = 0; j < z.length; j++) z[j] += alpha * dir[j];
  });
  state.dims.forEach((d) => { z[d] += Number($(`dim${d}`).value); });
  const request = api("api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify({ latents: [z] }) });
  pending = request;
  const url = await blobUrl(await request);
  if (pending === request) $("big").src = url;  // drop answers that arrive after a newer one
}

async function interpolate() {
  if (state.a === null || state.b === null) {
    $("status").textContent = "select two samples first";
    return;
  }
  const q = `seeds=${state.b},${state.a}&steps=${state.steps}&method=${$("method").value}`;
  const img = new Image();
  img.src = await blobUrl(await api(`api/interpolate?${q}&format=png`));
  await img.decode();
  state.strip = img;
  $("t").disabled = false;
  $("t").value = 0;
  drawFrame();
  const gif = $("save-gif");
  const url = new URL(`api/interpolate?${q}&format=gif`, document.baseURI); // relative: the page may be mounted
  gif.href = url.pathname + url.search;
  gif.hidden = false;
}

function drawFrame() {
  if (!state.strip) return;
  const i = Number($("t").value), pad = 2, size = (state.strip.width - pad) / state.steps - pad;
  const ctx = $("frame").getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(state.strip, pad + i * (size + pad), pad, size, size, 0, 0, 256, 256);
}

async function arithmetic() {
  const q = new URLSearchParams();
  q.append("plus", $("slot0").value);
  q.append("minus", $("slot1").value);
  q.append("plus", $("slot2").value);
  $("arith-result").src = await blobUrl(await api(`api/arithmetic?${q}`));
}

async function main() {
  const info = await (await api("api/info")).json();
  const m = info.metadata;
  $("model").textContent = `${m.image_size}x${m.image_size}, ${m.channels} channel(s), latent_dim ${m.latent_dim}, ` +
    `trained ${m.training_steps} steps on ${m.dataset || "?"}; running on ${info.providers.join(", ")}`;
  $("metadata").textContent = JSON.stringify(info, null, 2);
  state.directions = (await (await api("api/directions?k=4&seed=0")).json()).directions;
  buildSliders();
  $("refresh").addEventListener("click", showGrid);
  $("next").addEventListener("click", () => {
    $("first-seed").value = Number($("first-seed").value) + Number($("count").value);
    showGrid();
  });
  $("reset-sliders").addEventListener("click", () => { resetSliders(); render(); });
  $("interpolate").addEventListener("click", interpolate);
  $("t").addEventListener("input", drawFrame);
  $("compute").addEventListener("click", arithmetic);
  for (const b of document.querySelectorAll("button.add")) {
    b.addEventListener("click", () => {
      if (state.a === null) return;
      const slot = $(`slot${b.dataset.slot}`);
      slot.value = slot.value ? `${slot.value},${state.a}` : String(state.a);
    });
  }
  await showGrid();
}
main();
