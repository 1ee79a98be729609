// The project's seed rule in JavaScript: numpy.random.RandomState(seed).standard_normal(dim), exactly.
//
// RandomState(int) seeds MT19937 with init_genrand(seed); standard_normal is numpy's legacy polar
// Box-Muller (legacy_gauss), which draws doubles as (a >> 5) * 2^26 + (b >> 6) over 2^53 and keeps
// the second value of each pair for the next call. A seed names the same latent here as in Python.

const N = 624;
const M = 397;

class MT19937 {
  constructor(seed) {
    this.mt = new Uint32Array(N);
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  next32() {
    const mt = this.mt;
    if (this.index >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
        mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  nextDouble() {
    const a = this.next32() >>> 5;
    const b = this.next32() >>> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }
}

/** dim float64 values of RandomState(seed).standard_normal(dim). */
export function standardNormal(seed, dim) {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`a seed must be an integer in 0..4294967295, got ${seed}`);
  }
  const rng = new MT19937(seed);
  const out = new Float64Array(dim);
  let cached = null;
  for (let i = 0; i < dim; i++) {
    if (cached !== null) {
      out[i] = cached;
      cached = null;
      continue;
    }
    let x1, x2, r2;
    do {
      x1 = 2.0 * rng.nextDouble() - 1.0;
      x2 = 2.0 * rng.nextDouble() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 === 0.0);
    const f = Math.sqrt((-2.0 * Math.log(r2)) / r2);
    cached = f * x1;
    out[i] = f * x2;
  }
  return out;
}

/** Float32Array (seeds.length * dim): one RandomState(seed) per seed, as dcgan_runtime.latent.latents_from_seeds. */
export function latentsFromSeeds(seeds, dim) {
  const out = new Float32Array(seeds.length * dim);
  seeds.forEach((seed, i) => out.set(standardNormal(seed, dim), i * dim));
  return out;
}

/** '0-3,9' -> [0, 1, 2, 3, 9], at most `limit` seeds (counted before expanding). */
export function parseSeeds(spec, limit = 256) {
  const ranges = String(spec).split(",").map((part) => {
    const m = part.trim().match(/^(\d+)(?:-(\d+))?$/);
    if (!m) throw new Error(`seeds take numbers and ranges like 0-63 or 1,5,9; got ${JSON.stringify(spec)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi > 0xffffffff) throw new Error(`seed ${hi} is outside 0..4294967295`);
    if (hi < lo) throw new Error(`seed range ${part.trim()} runs backwards`);
    return [lo, hi];
  });
  const total = ranges.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
  if (total > limit) throw new Error(`${total} seeds is more than ${limit}`);
  return ranges.flatMap(([lo, hi]) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i));
}
